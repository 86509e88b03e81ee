"""Vault's `/vault/admin/keys`: integer ids, `vault_sk_` secrets; admins see every key."""

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from atrium.auth.deps import require
from atrium.auth.principal import Principal
from atrium.db import SessionDep
from atrium.keys import service as keys_service
from atrium.keys.schemas import (
    VaultKeyCreate,
    VaultKeyCreated,
    VaultKeyRead,
    VaultKeyRevoked,
    vault_key_read,
)
from atrium.users.schemas import CursorQuery, IdPath

router = APIRouter(prefix="/vault/admin/keys", tags=["vault"])

KeysRead = Annotated[Principal, Depends(require("api_keys", "read"))]
KeysWrite = Annotated[Principal, Depends(require("api_keys", "write"))]
KeysDelete = Annotated[Principal, Depends(require("api_keys", "delete"))]


@router.get("", response_model=list[VaultKeyRead])
async def list_vault_keys(
    principal: KeysRead,
    session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    cursor: CursorQuery = None,
) -> list[dict[str, Any]]:
    """The caller's keys; an administrator sees every user's."""
    keys = await keys_service.list_keys(
        session, principal, everyone=True, include_revoked=True, limit=limit, after_id=cursor
    )
    return [vault_key_read(key) for key in keys]


@router.post("", response_model=VaultKeyCreated, status_code=201)
async def create_vault_key(body: VaultKeyCreate, principal: KeysWrite, session: SessionDep) -> dict:
    scope = body.scope.strip().lower()
    scopes = await keys_service.vault_scopes(session, principal, scope)
    key, secret = await keys_service.create_key(
        session,
        principal,
        name=body.label,
        surface="vault",
        scopes=scopes,
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
