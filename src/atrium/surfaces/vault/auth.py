"""Vault's `/vault/auth/login` and `/vault/auth/me`."""

from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel

from atrium.auth.deps import CurrentPrincipal, Public
from atrium.db import SessionDep
from atrium.identity import service as identity_service
from atrium.identity.deps import LOGIN_BODY, ClientAddressDep, LoginBody, Throttle
from atrium.surfaces.vault.keys import vault_scope

router = APIRouter(prefix="/vault/auth", tags=["vault"])


class VaultAuthUser(BaseModel):
    id: str
    name: str
    email: str
    role: str
    auth_source: str


class VaultLoginRead(BaseModel):
    token: str
    token_type: str
    expires_in: int
    user: VaultAuthUser


class VaultMeRead(BaseModel):
    auth_type: str
    user: VaultAuthUser
    key_prefix: str | None
    key_scope: str | None


@router.post(
    "/login", response_model=VaultLoginRead, dependencies=[Public], openapi_extra=LOGIN_BODY
)
async def vault_login(
    request: Request,
    body: LoginBody,
    address: ClientAddressDep,
    throttle: Throttle,
    session: SessionDep,
) -> dict:
    """`{username, password}`: the username matches an email, a username or a display name."""
    user = await identity_service.login(
        session, throttle, address, body.login_name, body.password, by_display_name=True
    )
    state = request.app.state
    tokens = await identity_service.issue_tokens(
        session, state.secrets, state.settings, user, with_refresh=False
    )
    return {
        "token": tokens.access_token,
        "token_type": "bearer",
        "expires_in": tokens.expires_in,
        "user": {
            "id": str(user.id),
            "name": user.full_name or user.username,
            "email": user.email,
            "role": user.role,
            "auth_source": user.auth_source,
        },
    }


@router.get("/me", response_model=VaultMeRead)
async def vault_me(principal: CurrentPrincipal) -> dict[str, Any]:
    return {
        "auth_type": "key" if principal.key_id is not None else "jwt",
        "user": {
            "id": str(principal.user_id),
            "name": principal.full_name or principal.username,
            "email": principal.email,
            "role": principal.role,
            "auth_source": principal.auth_source,
        },
        "key_prefix": principal.key_prefix,
        "key_scope": None
        if principal.key_id is None
        else vault_scope(principal.key_scopes, principal.key_scope_label),
    }
