"""Seed 004's `/api/v1/auth/*`, plus the OAuth2 token endpoint for /docs and verify-token."""

from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import Response
from fastapi.security import OAuth2PasswordRequestForm

from atrium.auth.deps import CurrentPrincipal, Public, bearer_scheme, document_security
from atrium.db import SessionDep
from atrium.errors import error_response
from atrium.identity import service as identity_service
from atrium.identity.deps import LOGIN_BODY, ClientAddressDep, LoginBody, Throttle
from atrium.identity.schemas import (
    AuthRead,
    LoginRequest,
    LogoutRead,
    LogoutRequest,
    OAuthTokenRead,
    RefreshRequest,
    RegisterRequest,
    TokenPairRead,
    UserRead,
    VerifyRead,
    auth_read,
    principal_user_read,
)
from atrium.security.throttle import ClientAddress, make_throttle

router = APIRouter(prefix="/api/v1/auth", tags=["auth"])


@router.post("/register", response_model=AuthRead, status_code=201, dependencies=[Public])
async def register(request: Request, body: RegisterRequest, session: SessionDep) -> dict:
    state = request.app.state
    user = await identity_service.register(
        session,
        state.settings,
        email=body.email,
        username=body.username,
        password=body.password,
        full_name=body.full_name,
    )
    tokens = await identity_service.issue_tokens(session, state.secrets, state.settings, user)
    return auth_read(user, tokens.access_token, tokens.refresh_token)


@router.post("/login", response_model=AuthRead, dependencies=[Public], openapi_extra=LOGIN_BODY)
async def login(
    request: Request,
    body: LoginBody,
    address: ClientAddressDep,
    throttle: Throttle,
    session: SessionDep,
) -> dict:
    """Sign in with `email`, `username` or `identifier` and `password` (JSON or form)."""
    user = await identity_service.login(session, throttle, address, body.login_name, body.password)
    state = request.app.state
    tokens = await identity_service.issue_tokens(session, state.secrets, state.settings, user)
    return auth_read(user, tokens.access_token, tokens.refresh_token)


@router.post("/token", response_model=OAuthTokenRead, dependencies=[Public])
async def issue_oauth_token(
    request: Request,
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
    address: ClientAddressDep,
    throttle: Throttle,
    session: SessionDep,
) -> dict:
    """OAuth2 password flow: the /docs Authorize button signs in here."""
    body = LoginRequest(username=form.username, password=form.password)
    user = await identity_service.login(session, throttle, address, body.login_name, body.password)
    state = request.app.state
    tokens = await identity_service.issue_tokens(session, state.secrets, state.settings, user)
    return {
        "access_token": tokens.access_token,
        "token_type": "bearer",
        "expires_in": tokens.expires_in,
        "refresh_token": tokens.refresh_token,
    }


@router.post(
    "/refresh",
    response_model=TokenPairRead,
    dependencies=[Public],
    responses={401: {"description": "Invalid, expired or reused refresh token"}},
)
async def refresh_tokens(request: Request, body: RefreshRequest, session: SessionDep) -> Any:
    state = request.app.state
    outcome = await identity_service.rotate_refresh(
        session, state.secrets, state.settings, body.refreshToken
    )
    if outcome.family_revoked or outcome.tokens is None:
        # returned, not raised, so that the family's revocation is committed
        return error_response(
            request,
            401,
            "refresh_token_reused",
            "This refresh token was already used; every session of this sign-in is revoked",
        )
    return {
        "accessToken": outcome.tokens.access_token,
        "refreshToken": outcome.tokens.refresh_token,
    }


@router.get("/me", response_model=UserRead)
async def read_me(principal: CurrentPrincipal) -> Response:
    return Response(orjson.dumps(principal_user_read(principal)), media_type="application/json")


@router.post("/verify-token", response_model=VerifyRead)
async def verify_token(principal: CurrentPrincipal) -> dict:
    return {"valid": True, "user": principal_user_read(principal)}


@router.post("/logout", response_model=LogoutRead, dependencies=[Public])
async def logout(
    request: Request,
    session: SessionDep,
    bearer: Annotated[str | None, Depends(bearer_scheme)],
    body: LogoutRequest | None = None,
) -> dict:
    await identity_service.logout(
        session, request.app.state.secrets.jwt_key, body.refreshToken if body else None, bearer
    )
    return {"message": "Successfully logged out"}


def setup(app: FastAPI) -> None:
    settings = app.state.settings
    app.state.login_throttle = make_throttle(app.state.redis, settings.login_max_failures)
    app.state.client_address = ClientAddress(settings.trusted_proxies)
    document_security(app)
