"""Seed 003's `/api/auth/{login,logout,me}` over the shared auth service.

Ordinary users are shown with the role `client`, as that platform names them.
"""

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel

from atrium.auth.deps import CurrentPrincipal, Public, bearer_scheme
from atrium.auth.principal import Principal
from atrium.db import SessionDep
from atrium.identity import service as identity_service
from atrium.identity.deps import LOGIN_BODY, ClientAddressDep, LoginBody, Throttle
from atrium.identity.schemas import LogoutRead, LogoutRequest
from atrium.shapes import iso_z

router = APIRouter(prefix="/api/auth", tags=["cloud platform"])


def shown_role(role: str) -> str:
    return "client" if role == "user" else role


class CloudUser(BaseModel):
    id: str
    email: str
    username: str
    full_name: str | None
    role: str


class CloudLoginRead(BaseModel):
    access_token: str
    token_type: str
    user: CloudUser


class CloudMeRead(CloudUser):
    is_active: bool
    created_at: str | None


def cloud_user(principal: Principal) -> dict[str, Any]:
    return {
        "id": str(principal.user_id),
        "email": principal.email,
        "username": principal.username,
        "full_name": principal.full_name,
        "role": shown_role(principal.role),
    }


@router.post(
    "/login", response_model=CloudLoginRead, dependencies=[Public], openapi_extra=LOGIN_BODY
)
async def cloud_login(
    request: Request,
    body: LoginBody,
    address: ClientAddressDep,
    throttle: Throttle,
    session: SessionDep,
) -> dict:
    """`{identifier | username | email, password}` as JSON (or a form body holding JSON)."""
    user = await identity_service.login(session, throttle, address, body.login_name, body.password)
    state = request.app.state
    tokens = await identity_service.issue_tokens(
        session, state.secrets, state.settings, user, with_refresh=False
    )
    return {
        "access_token": tokens.access_token,
        "token_type": "bearer",
        "user": {
            "id": str(user.id),
            "email": user.email,
            "username": user.username,
            "full_name": user.full_name,
            "role": shown_role(user.role),
        },
    }


@router.post("/logout", response_model=LogoutRead, dependencies=[Public])
async def cloud_logout(
    request: Request,
    session: SessionDep,
    bearer: Annotated[str | None, Depends(bearer_scheme)],
    body: LogoutRequest | None = None,
) -> dict:
    await identity_service.logout(
        session, request.app.state.secrets.jwt_key, body.refreshToken if body else None, bearer
    )
    return {"message": "Successfully logged out"}


@router.get("/me", response_model=CloudMeRead)
async def cloud_me(principal: CurrentPrincipal) -> dict:
    return {**cloud_user(principal), "is_active": True, "created_at": iso_z(principal.created_at)}
