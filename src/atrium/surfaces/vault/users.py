"""Vault's `/vault/admin/users`: its shapes over the users service (DELETE deactivates)."""

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request

from atrium.auth.deps import require
from atrium.auth.principal import Principal
from atrium.db import SessionDep
from atrium.errors import BadRequest, Forbidden
from atrium.keys import service as keys_service
from atrium.users import service as users_service
from atrium.users.schemas import (
    MAX_ID,
    IdPath,
    VaultUserCreate,
    VaultUserRead,
    VaultUserUpdate,
    vault_user_read,
)
from atrium.users.tables import User

router = APIRouter(prefix="/vault/admin/users", tags=["vault"])

UsersRead = Annotated[Principal, Depends(require("users", "read"))]
UsersWrite = Annotated[Principal, Depends(require("users", "write"))]
UsersDelete = Annotated[Principal, Depends(require("users", "delete"))]
STATUSES = {"active": True, "inactive": False}


async def _shaped(session: SessionDep, user: User) -> dict[str, Any]:
    counts = await keys_service.count_active_by_user(session, [user.id])
    return vault_user_read(user, counts.get(user.id, 0))


@router.get("", response_model=list[VaultUserRead])
async def list_vault_users(
    principal: UsersRead,
    session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=MAX_ID)] = 0,
) -> list[dict[str, Any]]:
    users = await users_service.list_users(session, limit=limit, offset=offset)
    counts = await keys_service.count_active_by_user(session, [user.id for user in users])
    return [vault_user_read(user, counts.get(user.id, 0)) for user in users]


@router.post("", response_model=VaultUserRead, status_code=201)
async def create_vault_user(
    request: Request, body: VaultUserCreate, principal: UsersWrite, session: SessionDep
) -> dict:
    if body.role.strip().lower() != "user" and principal.role != "admin":
        raise Forbidden("Only administrators can assign roles")
    user = await users_service.create_by_admin(
        session,
        request.app.state.settings,
        email=body.email,
        name=body.name,
        role=body.role,
        password=body.password,
        auth_source=body.auth_source,
        actor_id=principal.user_id,
    )
    return await _shaped(session, user)


@router.put("/{user_id}", response_model=VaultUserRead)
async def update_vault_user(
    request: Request,
    user_id: IdPath,
    body: VaultUserUpdate,
    principal: UsersWrite,
    session: SessionDep,
) -> dict:
    changes: dict[str, Any] = {}
    if body.name is not None:
        changes["full_name"] = body.name.strip()
    if body.email is not None:
        changes["email"] = body.email
    if body.role is not None:
        changes["role"] = body.role
    if body.status is not None:
        if body.status not in STATUSES:
            raise BadRequest("status must be 'active' or 'inactive'")
        changes["is_active"] = STATUSES[body.status]
    user = await users_service.update_user(
        session,
        principal.user_id,
        user_id,
        changes,
        request.app.state.settings,
        actor_role=principal.role,
    )
    return await _shaped(session, user)


@router.delete("/{user_id}", response_model=VaultUserRead)
async def deactivate_vault_user(
    request: Request, user_id: IdPath, principal: UsersDelete, session: SessionDep
) -> dict:
    """Vault's delete is a deactivation; the user comes back with status `inactive`."""
    user = await users_service.update_user(
        session,
        principal.user_id,
        user_id,
        {"is_active": False},
        request.app.state.settings,
        actor_role=principal.role,
    )
    return await _shaped(session, user)
