"""The foundation batch's 74 seed-documented paths are all served."""

import re

from fastapi import FastAPI

SEED_PATHS = (
    ("000", "GET", "/vault/conversations"),
    ("000", "POST", "/vault/conversations"),
    ("000", "GET", "/vault/conversations/{id}"),
    ("000", "PUT", "/vault/conversations/{id}"),
    ("000", "DELETE", "/vault/conversations/{id}"),
    ("000", "POST", "/vault/conversations/{id}/messages"),
    ("000", "GET", "/vault/admin/users"),
    ("000", "POST", "/vault/admin/users"),
    ("000", "PUT", "/vault/admin/users/{id}"),
    ("000", "DELETE", "/vault/admin/users/{id}"),
    ("000", "GET", "/vault/admin/keys"),
    ("000", "POST", "/vault/admin/keys"),
    ("000", "DELETE", "/vault/admin/keys/{id}"),
    ("000", "GET", "/vault/health"),
    ("000", "GET", "/v1/models"),
    ("000", "POST", "/v1/chat/completions"),
    ("001", "GET", "/api/v1/usage/stats"),
    ("001", "GET", "/api/v1/usage/history"),
    ("001", "POST", "/api/v1/tokens"),
    ("001", "GET", "/api/v1/tokens"),
    ("001", "GET", "/api/v1/tokens/{id}"),
    ("001", "DELETE", "/api/v1/tokens/{id}"),
    ("001", "POST", "/api/v1/tokens/{id}/refresh"),
    ("002", "GET", "/api/v1/permissions/matrix"),
    ("002", "GET", "/api/v1/permissions/roles"),
    ("002", "GET", "/api/v1/permissions/roles/{role_id}"),
    ("002", "POST", "/api/v1/permissions/roles"),
    ("002", "PUT", "/api/v1/permissions/roles/{role_id}"),
    ("002", "DELETE", "/api/v1/permissions/roles/{role_id}"),
    ("002", "POST", "/api/v1/permissions/grant"),
    ("002", "POST", "/api/v1/permissions/revoke"),
    ("002", "GET", "/api/v1/permissions/check"),
    ("002", "GET", "/api/v1/permissions/user/{user_id}"),
    ("002", "GET", "/api/v1/permissions/hierarchy"),
    ("002", "POST", "/api/v1/permissions/bulk-grant"),
    ("002", "POST", "/api/v1/permissions/bulk-revoke"),
    ("002", "GET", "/api/v1/llm/usage/overview"),
    ("002", "GET", "/api/v1/llm/usage/by-model"),
    ("002", "GET", "/api/v1/llm/usage/by-user"),
    ("002", "GET", "/api/v1/llm/usage/costs"),
    ("002", "GET", "/api/v1/llm/usage/history"),
    ("002", "GET", "/api/v1/llm/usage/top-users"),
    ("002", "GET", "/api/v1/llm/usage/top-models"),
    ("002", "GET", "/api/v1/llm/usage/forecasts"),
    ("002", "GET", "/api/v1/llm/providers"),
    ("002", "GET", "/api/v1/llm/providers/available"),
    ("002", "POST", "/api/v1/llm/providers"),
    ("002", "PUT", "/api/v1/llm/providers/{provider_id}"),
    ("002", "DELETE", "/api/v1/llm/providers/{provider_id}"),
    ("002", "POST", "/api/v1/llm/providers/{provider_id}/test"),
    ("002", "GET", "/api/v1/llm/providers/{provider_id}"),
    ("002", "POST", "/api/v1/llm/providers/{provider_id}/toggle"),
    ("003", "POST", "/api/auth/login"),
    ("003", "POST", "/api/auth/logout"),
    ("003", "GET", "/api/auth/me"),
    ("004", "POST", "/api/v1/auth/register"),
    ("004", "POST", "/api/v1/auth/login"),
    ("004", "POST", "/api/v1/auth/refresh"),
    ("004", "GET", "/api/v1/auth/me"),
    ("004", "POST", "/api/v1/auth/logout"),
    ("004", "POST", "/api/v1/projects"),
    ("004", "GET", "/api/v1/projects"),
    ("004", "PATCH", "/api/v1/projects/{project_id}"),
    ("004", "DELETE", "/api/v1/projects/{project_id}"),
    ("004", "POST", "/api/v1/conversations"),
    ("004", "GET", "/api/v1/conversations"),
    ("004", "GET", "/api/v1/conversations/{conversation_id}"),
    ("004", "POST", "/api/v1/conversations/{conversation_id}/messages"),
    ("004", "POST", "/api/v1/upload"),
    ("004", "GET", "/api/v1/admin/users"),
    ("004", "PATCH", "/api/v1/admin/users/{user_id}"),
    ("004", "DELETE", "/api/v1/admin/users/{user_id}"),
    ("004", "GET", "/api/v1/admin/metrics"),
    ("004", "GET", "/health"),
)


def _shape(path: str) -> str:
    return re.sub(r"\{[^}]*\}", "{}", path.rstrip("/") or "/")


def test_every_seed_path_of_the_batch_is_in_openapi(app: FastAPI) -> None:
    served = {
        (method.upper(), _shape(path))
        for path, operations in app.openapi()["paths"].items()
        for method in operations
    }
    missing = [
        f"{seed} {method} {path}"
        for seed, method, path in SEED_PATHS
        if (method, _shape(path)) not in served
    ]
    assert len(SEED_PATHS) == 74
    assert missing == []
