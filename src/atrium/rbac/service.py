"""Roles and their grants; every change reaches callers on their next request."""

from collections import defaultdict
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from atrium.auth.principal import identity_changed
from atrium.errors import BadRequest, Conflict, Forbidden, NotFound
from atrium.rbac.defaults import ACTIONS, BUILTIN_ROLE_IDS, REACH, RESOURCES, role_id_for
from atrium.rbac.tables import Role, RolePermission
from atrium.shapes import iso_z

Grants = dict[str, list[str]]


class RoleNotFound(NotFound):
    code = "role_not_found"


class RoleExists(Conflict):
    code = "role_exists"


class RoleInUse(Conflict):
    code = "role_in_use"


class SystemRole(Forbidden):
    code = "system_role"


class InvalidPermission(BadRequest):
    code = "invalid_permission"


async def permissions_of(session: AsyncSession, role_id: str) -> frozenset[str]:
    """The role's grants as `resource:action` strings."""
    rows = await session.execute(
        select(RolePermission.resource, RolePermission.action).where(
            RolePermission.role_id == role_id
        )
    )
    return frozenset(f"{resource}:{action}" for resource, action in rows)


def reach_of(role_id: str) -> frozenset[str]:
    """`resource:action` pairs on which the role acts on other users' objects too."""
    return frozenset(
        f"{resource}:{action}"
        for resource, actions in REACH.get(role_id, {}).items()
        for action in actions
    )


def check_grants(grants: Grants) -> dict[str, set[str]]:
    """Validate resource/action names; an action must exist for the resource."""
    checked: dict[str, set[str]] = {}
    for resource, actions in grants.items():
        if resource not in RESOURCES:
            raise InvalidPermission(f"Unknown resource '{resource}'")
        for action in actions:
            if action not in ACTIONS:
                raise InvalidPermission(
                    f"Action '{action}' is not available for resource '{resource}'"
                )
        checked[resource] = set(actions)
    return checked


async def role_exists(session: AsyncSession, role_id: str) -> bool:
    return await session.scalar(select(Role.id).where(Role.id == role_id)) is not None


async def get_role(session: AsyncSession, role_id: str) -> Role:
    role = await session.get(Role, role_id)
    if role is None:
        raise RoleNotFound(f"Role '{role_id}' not found")
    return role


async def grants_of(session: AsyncSession, role_ids: list[str] | None = None) -> dict[str, Grants]:
    query = select(RolePermission.role_id, RolePermission.resource, RolePermission.action)
    if role_ids is not None:
        query = query.where(RolePermission.role_id.in_(role_ids))
    by_role: dict[str, Grants] = defaultdict(lambda: defaultdict(list))
    order = {action: n for n, action in enumerate(ACTIONS)}
    for role_id, resource, action in await session.execute(query):
        by_role[role_id][resource].append(action)
    return {
        role_id: {res: sorted(acts, key=order.__getitem__) for res, acts in sorted(grants.items())}
        for role_id, grants in by_role.items()
    }


def role_read(role: Role, grants: Grants) -> dict[str, Any]:
    return {
        "id": role.id,
        "name": role.name,
        "description": role.description,
        "level": role.level,
        "permissions": grants,
        "created_at": iso_z(role.created_at),
        "updated_at": iso_z(role.updated_at),
        "is_system": role.is_system,
    }


async def read_role(session: AsyncSession, role_id: str) -> dict[str, Any]:
    role = await get_role(session, role_id)
    return role_read(role, (await grants_of(session, [role.id])).get(role.id, {}))


async def list_roles(
    session: AsyncSession, *, limit: int | None = None, offset: int = 0
) -> list[dict[str, Any]]:
    """Roles, most privileged first; `limit`/`offset` page through them."""
    query = select(Role).order_by(Role.level, Role.id).offset(offset)
    if limit is not None:
        query = query.limit(limit)
    roles = list(await session.scalars(query))
    grants = await grants_of(session, [role.id for role in roles])
    return [role_read(role, grants.get(role.id, {})) for role in roles]


async def matrix(session: AsyncSession) -> dict[str, Any]:
    roles = await list_roles(session)
    return {
        "matrix": {
            role["id"]: {
                "role_info": {
                    "name": role["name"],
                    "description": role["description"],
                    "level": role["level"],
                    "is_system": role["is_system"],
                },
                "permissions": role["permissions"],
            }
            for role in roles
        },
        "resources": {
            resource: {
                "id": resource,
                "name": resource.replace("_", " ").title(),
                "description": description,
                "available_actions": list(ACTIONS),
            }
            for resource, description in RESOURCES.items()
        },
        "actions": {
            action: {"id": action, "name": action.title(), "description": description}
            for action, description in ACTIONS.items()
        },
    }


async def create_role(
    session: AsyncSession, *, name: str, description: str, level: int, permissions: Grants
) -> dict[str, Any]:
    role_id = role_id_for(name)
    if not role_id:
        raise BadRequest("The role name must not be empty")
    if role_id in BUILTIN_ROLE_IDS:
        raise BadRequest(f"'{name}' is a reserved system role name")
    grants = check_grants(permissions)
    clash = await session.scalar(
        select(Role.id).where((Role.id == role_id) | (func.lower(Role.name) == name.lower()))
    )
    if clash is not None:
        raise RoleExists(f"Role '{role_id}' already exists")
    role = Role(id=role_id, name=name.strip(), description=description, level=level)
    session.add(role)
    await session.flush()
    for resource, actions in grants.items():
        for action in actions:
            session.add(RolePermission(role_id=role_id, resource=resource, action=action))
    await session.flush()
    return await read_role(session, role_id)


async def update_role(
    session: AsyncSession, role_id: str, changes: dict[str, Any]
) -> dict[str, Any]:
    role = await get_role(session, role_id)
    if role.is_system and changes.get("level") not in (None, role.level):
        raise SystemRole("The level of a system role cannot be changed")
    if role.is_system and changes.get("name") not in (None, role.name):
        raise SystemRole("A system role cannot be renamed")
    if changes.get("name") and changes["name"].strip().lower() != role.name.lower():
        clash = await session.scalar(
            select(Role.id).where(
                func.lower(Role.name) == changes["name"].strip().lower(), Role.id != role.id
            )
        )
        if clash is not None:
            raise RoleExists(f"A role named '{changes['name']}' already exists")
        role.name = changes["name"].strip()
    if changes.get("description"):
        role.description = changes["description"]
    if changes.get("level") is not None:
        role.level = changes["level"]
    await session.flush()
    identity_changed(session)
    return await read_role(session, role.id)


async def delete_role(session: AsyncSession, role_id: str) -> None:
    role = await get_role(session, role_id)
    if role.is_system:
        raise SystemRole("A system role cannot be deleted")
    await session.execute(delete(RolePermission).where(RolePermission.role_id == role_id))
    await session.delete(role)
    try:
        # users refer to their role by a foreign key, which refuses to lose it
        await session.flush()
    except IntegrityError:
        raise RoleInUse(f"Role '{role_id}' is held by users; reassign them first") from None
    identity_changed(session)


async def grant(session: AsyncSession, role_id: str, permissions: Grants) -> dict[str, Any]:
    role = await get_role(session, role_id)
    wanted = check_grants(permissions)
    existing = (await grants_of(session, [role.id])).get(role.id, {})
    for resource, actions in wanted.items():
        for action in actions - set(existing.get(resource, ())):
            session.add(RolePermission(role_id=role.id, resource=resource, action=action))
    await session.flush()
    identity_changed(session)
    return await read_role(session, role.id)


async def revoke(
    session: AsyncSession, role_id: str, permissions: dict[str, list[str] | None]
) -> dict[str, Any]:
    role = await get_role(session, role_id)
    if role.id == "admin":
        raise SystemRole("The admin role's permissions cannot be revoked")
    for resource, actions in permissions.items():
        check_grants({resource: actions or []})
        query = delete(RolePermission).where(
            RolePermission.role_id == role.id, RolePermission.resource == resource
        )
        if actions:
            query = query.where(RolePermission.action.in_(actions))
        await session.execute(query)
    await session.flush()
    identity_changed(session)
    return await read_role(session, role.id)


async def check(session: AsyncSession, role_id: str, resource: str, action: str) -> dict[str, Any]:
    role = await get_role(session, role_id)
    check_grants({resource: [action]})
    granted = await session.scalar(
        select(RolePermission.role_id).where(
            RolePermission.role_id == role.id,
            RolePermission.resource == resource,
            RolePermission.action == action,
        )
    )
    return {
        "role_id": role.id,
        "resource": resource,
        "action": action,
        "has_permission": granted is not None,
        "role_level": role.level,
        "role_name": role.name,
    }


async def user_permissions(
    session: AsyncSession, *, user_id: int, username: str, role_id: str
) -> dict[str, Any]:
    role = await get_role(session, role_id)
    return {
        "user_id": str(user_id),
        "username": username,
        "role_id": role.id,
        "role_name": role.name,
        "role_level": role.level,
        "permissions": (await grants_of(session, [role.id])).get(role.id, {}),
    }


async def hierarchy(session: AsyncSession) -> dict[str, Any]:
    roles = await session.scalars(select(Role).order_by(Role.level, Role.id))
    return {
        "hierarchy": [
            {
                "id": role.id,
                "name": role.name,
                "level": role.level,
                "is_system": role.is_system,
                "description": role.description,
            }
            for role in roles
        ],
        "order": "A lower level is more privileged (admin = 1).",
    }
