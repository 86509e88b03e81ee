"""Vault's `/vault/admin/keys`: integer ids, `vault_sk_` secrets; admins see every key.

The `vault_sk_` format is registered at app start (`setup`) through the keys domain's format
registry, so a Vault key authenticates on every route without auth or keys knowing Vault.
"""

import re
import secrets
from typing import Annotated, Any

from fastapi import APIRouter, FastAPI, Query, Response
from pydantic import BaseModel, Field

from atrium.auth.principal import Principal
from atrium.db import ReadDep, SessionDep
from atrium.keys import service as keys_service
from atrium.keys.auth import KeysDelete, KeysRead, KeysWrite
from atrium.keys.formats import KeyFormat
from atrium.params import Cursor, IdPath
from atrium.shapes import Input, iso_z, json_response

router = APIRouter(prefix="/vault/admin/keys", tags=["vault"])

_HEX48 = re.compile(r"[0-9a-f]{48}")
VAULT_KEY = KeyFormat(
    "vault",
    "vault_sk_",
    lambda: secrets.token_hex(24),
    valid_rest=lambda rest: _HEX48.fullmatch(rest) is not None,
)


class VaultKeyCreate(Input):
    label: str = Field(min_length=1, max_length=200)
    scope: str = "user"
    notes: str | None = Field(default=None, max_length=500)


class VaultKeyRead(BaseModel):
    id: int
    key_prefix: str
    label: str
    scope: str
    is_active: bool
    created_at: str | None
    last_used_at: str | None


class VaultKeyCreated(BaseModel):
    key: str
    id: int
    key_prefix: str
    label: str
    scope: str


class VaultKeyRevoked(BaseModel):
    status: str


def vault_scope(scopes: Any, scope_label: str | None) -> str:
    """Vault's word for a key's reach: its label, else `admin` (unscoped) or `custom`."""
    if scope_label:
        return scope_label
    return "admin" if scopes is None else "custom"


def vault_key_read(key: Any) -> dict[str, Any]:
    return {
        "id": key.id,
        "key_prefix": key.prefix,
        "label": key.name,
        "scope": vault_scope(key.scopes, key.scope_label),
        "is_active": key.revoked_at is None,
        "created_at": iso_z(key.created_at),
        "last_used_at": iso_z(key.last_used_at),
    }


async def vault_scopes(session: SessionDep, principal: Principal, scope: str) -> list[str] | None:
    """Vault's `user` scope: the `user` role's rights within the creator's; `admin`: all."""
    if scope == "admin":
        return keys_service.unrestricted_scopes(principal)
    if scope != "user":
        raise keys_service.InvalidScope("scope must be 'user' or 'admin'")
    allowed = await keys_service.role_scopes(session, "user")
    return sorted(s for s in allowed if principal.can(*s.split(":")))


@router.get("", response_model=list[VaultKeyRead])
async def list_vault_keys(
    principal: KeysRead,
    connection: ReadDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    cursor: Cursor = None,
) -> Response:
    """The caller's keys; an administrator sees every user's."""
    keys = await keys_service.list_keys(
        connection, principal, everyone=True, include_revoked=True, limit=limit, after_id=cursor
    )
    return json_response([vault_key_read(key) for key in keys])


@router.post("", response_model=VaultKeyCreated, status_code=201)
async def create_vault_key(body: VaultKeyCreate, principal: KeysWrite, session: SessionDep) -> dict:
    scope = body.scope.strip().lower()
    key, secret = await keys_service.create_key(
        session,
        principal,
        name=body.label,
        key_format=VAULT_KEY,
        scopes=await vault_scopes(session, principal, scope),
        scope_label=scope,
        notes=body.notes,
    )
    return {
        "key": secret,
        "id": key.id,
        "key_prefix": key.prefix,
        "label": key.name,
        "scope": scope,
    }


@router.delete("/{key_id}", response_model=VaultKeyRevoked)
async def revoke_vault_key(key_id: IdPath, principal: KeysDelete, session: SessionDep) -> dict:
    await keys_service.revoke_key(session, principal, key_id)
    return {"status": "revoked"}


def setup(app: FastAPI) -> None:
    app.state.key_formats.register(VAULT_KEY)
