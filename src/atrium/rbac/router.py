"""Seed 002's `/api/v1/permissions/*`: the matrix, roles, grants and checks."""

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from atrium.auth.deps import CurrentPrincipal, require
from atrium.auth.principal import Principal
from atrium.db import SessionDep
from atrium.errors import BadRequest, Forbidden
from atrium.params import parse_id
from atrium.rbac import service as rbac_service
from atrium.rbac.schemas import (
    BulkRequest,
    CheckRead,
    CheckRequest,
    GrantRequest,
    HierarchyRead,
    RevokeRequest,
    RoleCreate,
    RoleDeleted,
    RoleRead,
    RoleUpdate,
    UserPermissionsRead,
)
from atrium.users import service as users_service
from atrium.users.schemas import MAX_ID, IdPath

router = APIRouter(prefix="/api/v1/permissions", tags=["permissions"])

PermissionsRead = Annotated[Principal, Depends(require("permissions", "read"))]
PermissionsWrite = Annotated[Principal, Depends(require("permissions", "write"))]
PermissionsDelete = Annotated[Principal, Depends(require("permissions", "delete"))]


@router.get("/matrix")
async def read_matrix(principal: PermissionsRead, session: SessionDep) -> dict[str, Any]:
    return await rbac_service.matrix(session)


@router.get("/roles", response_model=list[RoleRead])
async def list_roles(
    principal: PermissionsRead,
    session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=MAX_ID)] = 0,
) -> list[dict[str, Any]]:
    return await rbac_service.list_roles(session, limit=limit, offset=offset)


@router.get("/roles/{role_id}", response_model=RoleRead)
async def read_role(role_id: str, principal: PermissionsRead, session: SessionDep) -> dict:
    return await rbac_service.read_role(session, role_id)


@router.post("/roles", response_model=RoleRead, status_code=201)
async def create_role(body: RoleCreate, principal: PermissionsWrite, session: SessionDep) -> dict:
    return await rbac_service.create_role(
        session,
        name=body.name,
        description=body.description,
        level=body.level,
        permissions=body.permissions,
    )


@router.put("/roles/{role_id}", response_model=RoleRead)
async def update_role(
    role_id: str, body: RoleUpdate, principal: PermissionsWrite, session: SessionDep
) -> dict:
    return await rbac_service.update_role(session, role_id, body.model_dump(exclude_unset=True))


@router.delete("/roles/{role_id}", response_model=RoleDeleted)
async def delete_role(role_id: str, principal: PermissionsDelete, session: SessionDep) -> dict:
    await rbac_service.delete_role(session, role_id)
    return {"id": role_id, "deleted": True}


@router.post("/grant", response_model=RoleRead)
async def grant_permission(
    body: GrantRequest, principal: PermissionsWrite, session: SessionDep
) -> dict:
    return await rbac_service.grant(session, body.role_id, {body.resource: body.actions})


@router.post("/revoke", response_model=RoleRead)
async def revoke_permission(
    body: RevokeRequest, principal: PermissionsWrite, session: SessionDep
) -> dict:
    return await rbac_service.revoke(session, body.role_id, {body.resource: body.actions})


@router.post("/bulk-grant", response_model=RoleRead)
async def bulk_grant_permissions(
    body: BulkRequest, principal: PermissionsWrite, session: SessionDep
) -> dict:
    return await rbac_service.grant(session, body.role_id, body.permissions)


@router.post("/bulk-revoke", response_model=RoleRead)
async def bulk_revoke_permissions(
    body: BulkRequest, principal: PermissionsWrite, session: SessionDep
) -> dict:
    return await rbac_service.revoke(session, body.role_id, dict(body.permissions))


def _user_id(value: str | int | None) -> int | None:
    if value is None or value == "":
        return None
    return parse_id(value, "user_id", "body")


async def _check(session: SessionDep, principal: Principal, body: CheckRequest) -> dict:
    user_id = _user_id(body.user_id)
    about_self = body.role_id is None and user_id in (None, principal.user_id)
    if not about_self and not principal.can("permissions", "read"):
        raise Forbidden()
    if about_self:
        result = await rbac_service.check(session, principal.role, body.resource, body.action)
        result["has_permission"] = principal.can(body.resource, body.action)
        return {**result, "user_id": str(principal.user_id)}
    if user_id is not None:
        user = await users_service.get_user(session, user_id)
        result = await rbac_service.check(session, user.role, body.resource, body.action)
        return {**result, "user_id": str(user.id)}
    return await rbac_service.check(session, body.role_id or "", body.resource, body.action)


@router.get("/check", response_model=CheckRead)
async def check_permission(
    principal: CurrentPrincipal,
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


@router.post("/check", response_model=CheckRead)
async def check_permission_post(
    body: CheckRequest, principal: CurrentPrincipal, session: SessionDep
) -> dict:
    return await _check(session, principal, body)


@router.get("/user/{user_id}", response_model=UserPermissionsRead)
async def read_user_permissions(
    user_id: IdPath, principal: CurrentPrincipal, session: SessionDep
) -> dict:
    """A user's effective permissions: one's own, or anyone's with `permissions:read`."""
    if user_id != principal.user_id and not principal.can("permissions", "read"):
        raise users_service.UserNotFound()
    user = await users_service.get_user(session, user_id)
    return await rbac_service.user_permissions(session, user)


@router.get("/hierarchy", response_model=HierarchyRead)
async def read_hierarchy(principal: PermissionsRead, session: SessionDep) -> dict:
    return await rbac_service.hierarchy(session)
