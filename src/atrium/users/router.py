"""Seed 004's `/api/v1/admin/users` (list, change role or state, delete) and seed 002's
questions about a user's permissions (`/api/v1/permissions/check`, `/user/{id}`)."""

from typing import Annotated

from fastapi import APIRouter, FastAPI, Query, Request, Response

from atrium.db import ReadDep, SessionDep
from atrium.errors import BadRequest
from atrium.params import MAX_ID, Cursor, IdPath, parse_id
from atrium.rbac.schemas import CheckRead, CheckRequest, UserPermissionsRead
from atrium.shapes import json_response
from atrium.users import service as users_service
from atrium.users.auth import SignedIn, UsersDelete, UsersRead, UsersWrite
from atrium.users.schemas import AdminUserRead, AdminUserUpdate, Deleted, admin_user_read

router = APIRouter(prefix="/api/v1/admin/users", tags=["admin"])
permissions_router = APIRouter(prefix="/api/v1/permissions", tags=["permissions"])
routers = [router, permissions_router]


@router.get("", response_model=list[AdminUserRead])
async def list_users(
    principal: UsersRead,
    connection: ReadDep,
    search: Annotated[str | None, Query(max_length=200)] = None,
    q: Annotated[str | None, Query(max_length=200, include_in_schema=False)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=MAX_ID)] = 0,
    cursor: Cursor = None,
) -> Response:
    """Users by id; `search` matches email, username or name. Next page: `X-Next-Cursor`."""
    users = await users_service.list_users(
        connection, search=search or q, limit=limit, after_id=cursor, offset=offset
    )
    headers = {"X-Next-Cursor": str(users[-1].id)} if len(users) == limit else None
    return json_response([admin_user_read(user) for user in users], headers)


@router.get("/{user_id}", response_model=AdminUserRead)
async def read_user(user_id: IdPath, principal: UsersRead, connection: ReadDep) -> Response:
    return json_response(admin_user_read(await users_service.read_user(connection, user_id)))


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


def _user_id(value: str | int | None) -> int | None:
    if value is None or value == "":
        return None
    return parse_id(value, "user_id", "body")


async def _check(session: SessionDep, principal: SignedIn, body: CheckRequest) -> dict:
    return await users_service.check_permission(
        session,
        principal,
        resource=body.resource,
        action=body.action,
        role_id=body.role_id,
        user_id=_user_id(body.user_id),
    )


@permissions_router.get("/check", response_model=CheckRead)
async def check_permission(
    principal: SignedIn,
    session: SessionDep,
    resource: str,
    action: str,
    role_id: Annotated[str | None, Query()] = None,
    role: Annotated[str | None, Query()] = None,
    user_id: Annotated[str | None, Query()] = None,
) -> dict:
    """Whether a role, a user, or (with neither) the caller holds `resource:action`."""
    if (role_id or role) and user_id:
        raise BadRequest("Give role_id or user_id, not both")
    body = CheckRequest.model_construct(
        role_id=role_id or role, user_id=user_id, resource=resource, action=action
    )
    return await _check(session, principal, body)


@permissions_router.post("/check", response_model=CheckRead)
async def check_permission_post(
    body: CheckRequest, principal: SignedIn, session: SessionDep
) -> dict:
    return await _check(session, principal, body)


@permissions_router.get("/user/{user_id}", response_model=UserPermissionsRead)
async def read_user_permissions(user_id: IdPath, principal: SignedIn, session: SessionDep) -> dict:
    """A user's effective permissions: one's own, or anyone's with `permissions:read`."""
    return await users_service.permissions_of_user(session, principal, user_id)


def setup(app: FastAPI) -> None:
    if not hasattr(app.state, "user_deletion_hooks"):
        app.state.user_deletion_hooks = []
