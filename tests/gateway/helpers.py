"""Shared helpers for the gateway tests: fake upstreams, roles that may own providers."""

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient

from atrium.rbac.tables import Role, RolePermission

BUILDER_GRANTS = {
    "llm": ("read", "write", "delete", "execute"),
    "usage": ("read",),
}


def ensure_role(client: TestClient, app: FastAPI, role_id: str, grants: dict[str, tuple[str, ...]]):
    """A custom role (e.g. one allowed to own providers), created once per database."""

    async def insert() -> None:
        async with app.state.db.sessions() as session:
            if await session.get(Role, role_id) is None:
                session.add(Role(id=role_id, name=role_id.title(), description=role_id, level=3))
                for resource, actions in grants.items():
                    for action in actions:
                        session.add(
                            RolePermission(role_id=role_id, resource=resource, action=action)
                        )
                await session.commit()
        app.state.auth_cache.clear()

    client.portal.call(insert)


def add_provider(
    client: TestClient, headers: dict[str, str], base: str, **fields: Any
) -> dict[str, Any]:
    body = {
        "name": fields.pop("name", "fake"),
        "type": fields.pop("type", "custom"),
        "api_base": f"{base}/v1",
        "api_key": "test-key",
        "models": ["gpt-4o", "gpt-4o-mini", "text-embedding-3-small"],
        **fields,
    }
    response = client.post("/api/v1/llm/providers", json=body, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()


def flush(client: TestClient, app: FastAPI) -> None:
    client.portal.call(app.state.gateway.flush_usage)


def usage_rows(client: TestClient, app: FastAPI, **where: Any) -> list[Any]:
    from sqlalchemy import select

    from atrium.usage.tables import UsageRecord

    async def fetch() -> list[Any]:
        async with app.state.db.sessions() as session:
            statement = select(UsageRecord).order_by(UsageRecord.id)
            for name, value in where.items():
                statement = statement.where(getattr(UsageRecord, name) == value)
            return list(await session.scalars(statement))

    flush(client, app)
    return client.portal.call(fetch)


Runner = Callable[..., Any]
