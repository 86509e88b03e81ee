"""Seed 002's `/api/v1/permissions/*`: the matrix, roles and grants (a user's permissions and
checks about users are served by `users`, which sits above roles)."""

from typing import Annotated, Any

from fastapi import APIRouter, Query

from atrium.db import SessionDep
from atrium.params import MAX_ID
from atrium.rbac import service as rbac_service
from atrium.rbac.auth import PermissionsDelete, PermissionsRead, PermissionsWrite
from atrium.rbac.schemas import (
    BulkRequest,
    GrantRequest,
    HierarchyRead,
    RevokeRequest,
    RoleCreate,
    RoleDeleted,
    RoleRead,
    RoleUpdate,
)

router = APIRouter(prefix="/api/v1/permissions", tags=["permissions"])


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


@router.get("/hierarchy", response_model=HierarchyRead)
async def read_hierarchy(principal: PermissionsRead, session: SessionDep) -> dict:
    return await rbac_service.hierarchy(session)
