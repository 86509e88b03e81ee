"""The Ops Center's permissions page (PermissionsManagement.jsx): `GET /api/v1/permissions`
(a flat list of grants), `/resources`, `/actions`, `POST` (grant or deny) and `DELETE /{id}`,
over the role grants. A grant's `level` and `scope_id` are the role it belongs to; Atrium has
no other permission levels.
"""

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from pydantic import AliasChoices, BaseModel, ConfigDict, Field

from atrium.db import SessionDep
from atrium.errors import BadRequest, NotFound
from atrium.rbac import service as rbac_service
from atrium.rbac.auth import PermissionsDelete, PermissionsRead, PermissionsWrite

router = APIRouter(prefix="/api/v1/permissions", tags=["ops center"])


class PermissionRow(BaseModel):
    id: str
    level: str
    resource: str
    action: str
    granted: bool
    scope_id: str
    metadata: dict[str, Any]


class NamedItem(BaseModel):
    id: str
    name: str
    description: str
    available_actions: list[str] | None = None


class Deleted(BaseModel):
    id: str
    deleted: bool


class PermissionWrite(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    level: str | None = Field(None, max_length=64)
    scope_id: str | None = Field(None, max_length=64)
    role_id: str | None = Field(
        None, max_length=64, validation_alias=AliasChoices("role_id", "role")
    )
    resource: str = Field(min_length=1, max_length=64)
    action: str = Field(min_length=1, max_length=64)
    granted: bool = True


def _rows(matrix: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for role_id, entry in matrix["matrix"].items():
        info = entry["role_info"]
        for resource, actions in sorted(entry["permissions"].items()):
            for action in sorted(actions):
                rows.append(
                    {
                        "id": f"{role_id}:{resource}:{action}",
                        "level": role_id,
                        "resource": resource,
                        "action": action,
                        "granted": True,
                        "scope_id": role_id,
                        "metadata": {"role_name": info["name"], "role_level": info["level"]},
                    }
                )
    return rows


@router.get("", response_model=list[PermissionRow])
async def list_grants(
    principal: PermissionsRead,
    session: SessionDep,
    level: Annotated[str | None, Query(max_length=64)] = None,
    scope_id: Annotated[str | None, Query(max_length=64)] = None,
    resource: Annotated[str | None, Query(max_length=64)] = None,
    action: Annotated[str | None, Query(max_length=64)] = None,
    granted: bool | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=100_000)] = 0,
) -> list[dict[str, Any]]:
    """Every role's grants as rows (`level` and `scope_id` name the role); a role holds no
    denials, so `granted=false` lists nothing."""
    rows = _rows(await rbac_service.matrix(session))
    for field, wanted in (("level", level), ("scope_id", scope_id)):
        if wanted:
            rows = [row for row in rows if row[field] == wanted]
    if resource:
        rows = [row for row in rows if row["resource"] == resource]
    if action:
        rows = [row for row in rows if row["action"] == action]
    if granted is False:
        rows = []
    return rows[offset : offset + limit]


@router.get("/resources", response_model=list[NamedItem])
async def list_resources(principal: PermissionsRead, session: SessionDep) -> list[dict]:
    matrix = await rbac_service.matrix(session)
    return [{**item, "name": item["id"]} for item in matrix["resources"].values()]


@router.get("/actions", response_model=list[NamedItem])
async def list_actions(principal: PermissionsRead, session: SessionDep) -> list[dict]:
    matrix = await rbac_service.matrix(session)
    return [{**item, "name": item["id"]} for item in matrix["actions"].values()]


@router.post("", response_model=list[PermissionRow])
async def write_grant(
    body: PermissionWrite, principal: PermissionsWrite, session: SessionDep
) -> list[dict[str, Any]]:
    """Grant (or with `granted: false` revoke) `resource:action` for the role named by
    `role_id`, `scope_id` or `level`; answers the role's grants."""
    role_id = body.role_id or body.scope_id or body.level
    if not role_id:
        raise BadRequest("Name the role in role_id, scope_id or level", param="role_id")
    if body.granted:
        await rbac_service.grant(session, role_id, {body.resource: [body.action]})
    else:
        await rbac_service.revoke(session, role_id, {body.resource: [body.action]})
    rows = _rows(await rbac_service.matrix(session))
    return [row for row in rows if row["level"] == role_id]


@router.delete("/{permission_id}", response_model=Deleted)
async def delete_grant(
    permission_id: Annotated[str, Path(max_length=200)],
    principal: PermissionsDelete,
    session: SessionDep,
) -> dict[str, Any]:
    """Revoke one grant by the id the list shows (`role:resource:action`)."""
    role_id, _, rest = permission_id.partition(":")
    resource, _, action = rest.partition(":")
    if not (role_id and resource and action):
        raise NotFound("Permission not found")
    await rbac_service.revoke(session, role_id, {resource: [action]})
    return {"id": permission_id, "deleted": True}
