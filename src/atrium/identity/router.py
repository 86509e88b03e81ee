"""Seed 004's `/api/v1/auth/*`, plus the OAuth2 token endpoint for /docs and verify-token."""

from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from fastapi.security import OAuth2PasswordRequestForm
from pydantic import ValidationError

from atrium.auth import service as auth_service
from atrium.auth.deps import CurrentPrincipal, Public, bearer_scheme, document_security
from atrium.auth.principal import Principal
from atrium.auth.schemas import (
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
)
from atrium.db import SessionDep
from atrium.errors import BadRequest, Unauthorized, UnsupportedMediaType, error_response
from atrium.security.throttle import ClientAddress, LoginThrottle, RedisLoginThrottle, make_throttle
from atrium.security.tokens import InvalidToken, decode_access_token, looks_like_jwt
from atrium.users.schemas import iso_z, user_read
from atrium.users.tables import User

router = APIRouter(prefix="/api/v1/auth", tags=["auth"])

LOGIN_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": LoginRequest.model_json_schema()},
            "application/x-www-form-urlencoded": {"schema": LoginRequest.model_json_schema()},
        },
    }
}


# --- helpers shared with the seed surfaces --------------------------------------------------


def client_address(request: Request) -> str:
    resolver: ClientAddress = request.app.state.client_address
    peer = request.client.host if request.client else None
    return resolver.resolve(peer, request.headers.get("x-forwarded-for"))


def throttle_of(request: Request) -> LoginThrottle | RedisLoginThrottle:
    return request.app.state.login_throttle


async def read_login_body(request: Request) -> LoginRequest:
    """JSON, or a form: a form body that starts with `{` is JSON (seed 003's curl -d)."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    raw = await request.body()
    if content_type in ("", "application/json") or (
        content_type == "application/x-www-form-urlencoded" and raw.lstrip().startswith(b"{")
    ):
        try:
            data: Any = orjson.loads(raw or b"null")
        except orjson.JSONDecodeError:
            raise BadRequest("The body is not valid JSON") from None
    elif content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
        data = dict(await request.form())
    else:
        raise UnsupportedMediaType()
    if not isinstance(data, dict):
        raise BadRequest("The body must be a JSON object")
    try:
        return LoginRequest.model_validate(data)
    except ValidationError as exc:
        raise RequestValidationError(
            [{**error, "loc": ("body", *error["loc"])} for error in exc.errors()]
        ) from None


def principal_user(principal: Principal) -> dict[str, Any]:
    """The seed 004 user object, from the cached principal (no query)."""
    return {
        "id": str(principal.user_id),
        "email": principal.email,
        "username": principal.username,
        "role": principal.role,
        "createdAt": iso_z(principal.created_at),
        "full_name": principal.full_name,
    }


def auth_body(user: User, tokens: auth_service.IssuedTokens) -> dict[str, Any]:
    refresh = tokens.refresh_token or ""
    return {
        "user": user_read(user),
        "tokens": {"accessToken": tokens.access_token, "refreshToken": refresh},
        "access_token": tokens.access_token,
        "refresh_token": refresh,
        "token_type": "bearer",
    }


async def sign_in(request: Request, session: SessionDep, body: LoginRequest, **options) -> User:
    return await auth_service.login(
        session,
        throttle_of(request),
        client_address(request),
        body.login_name,
        body.password,
        **options,
    )


async def logout_with(
    request: Request, session: SessionDep, refresh_token: str | None, bearer: str | None
) -> None:
    """Revoke the refresh token's family and, with a bearer JWT, that access token."""
    revoked = False
    if refresh_token:
        revoked = await auth_service.revoke_refresh(session, refresh_token)
    if bearer and looks_like_jwt(bearer):
        try:
            claims = decode_access_token(request.app.state.secrets.jwt_key, bearer)
        except InvalidToken:
            claims = None
        if claims is not None:
            await auth_service.revoke_access(session, claims)
            revoked = True
    if not revoked:
        raise Unauthorized("Give a valid refreshToken in the body or a bearer access token")


# --- routes ---------------------------------------------------------------------------------


@router.post("/register", response_model=AuthRead, status_code=201, dependencies=[Public])
async def register(request: Request, body: RegisterRequest, session: SessionDep) -> dict:
    state = request.app.state
    user = await auth_service.register(
        session,
        state.settings,
        email=body.email,
        username=body.username,
        password=body.password,
        full_name=body.full_name,
    )
    tokens = await auth_service.issue_tokens(session, state.secrets, state.settings, user)
    return auth_body(user, tokens)


@router.post("/login", response_model=AuthRead, dependencies=[Public], openapi_extra=LOGIN_BODY)
async def login(request: Request, session: SessionDep) -> dict:
    """Sign in with `email`, `username` or `identifier` and `password` (JSON or form)."""
    user = await sign_in(request, session, await read_login_body(request))
    state = request.app.state
    return auth_body(
        user, await auth_service.issue_tokens(session, state.secrets, state.settings, user)
    )


@router.post("/token", response_model=OAuthTokenRead, dependencies=[Public])
async def issue_oauth_token(
    request: Request,
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
    session: SessionDep,
) -> dict:
    """OAuth2 password flow: the /docs Authorize button signs in here."""
    body = LoginRequest(username=form.username, password=form.password)
    user = await sign_in(request, session, body)
    state = request.app.state
    tokens = await auth_service.issue_tokens(session, state.secrets, state.settings, user)
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
    outcome = await auth_service.rotate_refresh(
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
    return Response(orjson.dumps(principal_user(principal)), media_type="application/json")


@router.post("/verify-token", response_model=VerifyRead)
async def verify_token(principal: CurrentPrincipal) -> dict:
    return {"valid": True, "user": principal_user(principal)}


@router.post("/logout", response_model=LogoutRead, dependencies=[Public])
async def logout(
    request: Request,
    session: SessionDep,
    bearer: Annotated[str | None, Depends(bearer_scheme)],
    body: LogoutRequest | None = None,
) -> dict:
    await logout_with(request, session, body.refreshToken if body else None, bearer)
    return {"message": "Successfully logged out"}


def setup(app: FastAPI) -> None:
    settings = app.state.settings
    app.state.login_throttle = make_throttle(app.state.redis, settings.login_max_failures)
    app.state.client_address = ClientAddress(settings.trusted_proxies)
    document_security(app)
