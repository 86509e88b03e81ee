"""Vault's `/vault/admin/users`: its shapes over the users service (DELETE deactivates)."""

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel, Field

from atrium.db import ReadDep, SessionDep
from atrium.errors import BadRequest
from atrium.keys import service as keys_service
from atrium.params import MAX_ID, IdPath
from atrium.reader import in_transaction
from atrium.shapes import Input, iso_z, json_response
from atrium.text import DisplayName
from atrium.users import service as users_service
from atrium.users.auth import UsersDelete, UsersRead, UsersWrite

router = APIRouter(prefix="/vault/admin/users", tags=["vault"])

STATUSES = {"active": True, "inactive": False}


class VaultUserRead(BaseModel):
    id: str
    name: str
    email: str
    role: str
    status: str
    last_active: str | None
    api_key_count: int
    created_at: str | None
    auth_source: str


def vault_user_read(user: Any, api_key_count: int) -> dict[str, Any]:
    return {
        "id": str(user.id),
        "name": user.full_name or user.username,
        "email": user.email,
        "role": user.role,
        "status": "active" if user.is_active else "inactive",
        "last_active": iso_z(user.last_active_at),
        "api_key_count": api_key_count,
        "created_at": iso_z(user.created_at),
        "auth_source": user.auth_source,
    }


class VaultUserCreate(Input):
    name: DisplayName = Field(min_length=1, max_length=200)
    email: str
    role: str = "user"
    password: str | None = None
    auth_source: str | None = Field(default=None, max_length=32)


class VaultUserUpdate(Input):
    name: DisplayName | None = Field(default=None, min_length=1, max_length=200)
    email: str | None = None
    role: str | None = None
    status: str | None = None


async def _shaped(session: SessionDep, user: Any) -> dict[str, Any]:
    counts = await keys_service.count_active_by_user(await in_transaction(session), [user.id])
    return vault_user_read(user, counts.get(user.id, 0))


@router.get("", response_model=list[VaultUserRead])
async def list_vault_users(
    principal: UsersRead,
    connection: ReadDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=MAX_ID)] = 0,
) -> Response:
    users = await users_service.list_users(connection, limit=limit, offset=offset)
    counts = await keys_service.count_active_by_user(connection, [user.id for user in users])
    return json_response([vault_user_read(user, counts.get(user.id, 0)) for user in users])


@router.post("", response_model=VaultUserRead, status_code=201)
async def create_vault_user(
    request: Request, body: VaultUserCreate, principal: UsersWrite, session: SessionDep
) -> dict:
    user = await users_service.create_by_admin(
        session,
        request.app.state.settings,
        email=body.email,
        name=body.name,
        role=body.role,
        password=body.password,
        auth_source=body.auth_source,
        actor_id=principal.user_id,
        actor_role=principal.role,
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
