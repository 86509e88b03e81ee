"""Vault's `/vault/auth/login` and `/vault/auth/me` (DECISIONS 4)."""

from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel

from atrium.auth import service as auth_service
from atrium.auth.deps import CurrentPrincipal, Public
from atrium.auth.router import LOGIN_BODY, read_login_body, sign_in
from atrium.db import SessionDep

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
async def vault_login(request: Request, session: SessionDep) -> dict:
    """`{username, password}`: the username matches an email, a username or a display name."""
    body = await read_login_body(request)
    user = await sign_in(request, session, body, by_display_name=True)
    state = request.app.state
    tokens = await auth_service.issue_tokens(
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
        "key_scope": principal.key_scope_label
        or (
            None
            if principal.key_id is None
            else ("admin" if principal.key_scopes is None else "custom")
        ),
    }
