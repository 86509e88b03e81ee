"""Seed 004's `/api/v1/admin/users`: list, change role or state, delete."""

from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Query, Request, Response

from atrium.auth.deps import require
from atrium.auth.principal import Principal
from atrium.db import SessionDep
from atrium.users import service as users_service
from atrium.users.schemas import (
    MAX_ID,
    AdminUserRead,
    AdminUserUpdate,
    CursorQuery,
    Deleted,
    IdPath,
    admin_user_read,
)

router = APIRouter(prefix="/api/v1/admin/users", tags=["admin"])

UsersRead = Annotated[Principal, Depends(require("users", "read"))]
UsersWrite = Annotated[Principal, Depends(require("users", "write"))]
UsersDelete = Annotated[Principal, Depends(require("users", "delete"))]


@router.get("", response_model=list[AdminUserRead])
async def list_users(
    principal: UsersRead,
    session: SessionDep,
    response: Response,
    search: Annotated[str | None, Query(max_length=200)] = None,
    q: Annotated[str | None, Query(max_length=200, include_in_schema=False)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=MAX_ID)] = 0,
    cursor: CursorQuery = None,
) -> list[dict[str, Any]]:
    """Users by id; `search` matches email, username or name. Next page: `X-Next-Cursor`."""
    users = await users_service.list_users(
        session, search=search or q, limit=limit, after_id=cursor, offset=offset
    )
    if len(users) == limit:
        response.headers["X-Next-Cursor"] = str(users[-1].id)
    return [admin_user_read(user) for user in users]


@router.get("/{user_id}", response_model=AdminUserRead)
async def read_user(user_id: IdPath, principal: UsersRead, session: SessionDep) -> dict:
    return admin_user_read(await users_service.get_user(session, user_id))


@router.patch("/{user_id}", response_model=AdminUserRead)
async def update_user(
    request: Request,
    user_id: IdPath,
    body: AdminUserUpdate,
    principal: UsersWrite,
    session: SessionDep,
) -> dict:
    """Change role, active state, identity or limits (rpm, tpm, monthly budget)."""
    user = await users_service.update_user(
        session,
        principal.user_id,
        user_id,
        body.model_dump(exclude_unset=True),
        request.app.state.settings,
        actor_role=principal.role,
    )
    return admin_user_read(user)


@router.delete("/{user_id}", response_model=Deleted)
async def delete_user(
    request: Request, user_id: IdPath, principal: UsersDelete, session: SessionDep
) -> dict:
    """Delete the user and everything they own; usage and audit rows are anonymised."""
    hooks = request.app.state.user_deletion_hooks
    await users_service.delete_user(
        session, principal.user_id, user_id, hooks, actor_role=principal.role
    )
    return {"message": "User deleted successfully"}


def setup(app: FastAPI) -> None:
    if not hasattr(app.state, "user_deletion_hooks"):
        app.state.user_deletion_hooks = []
