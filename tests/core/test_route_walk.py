"""Every route refuses an anonymous caller (401) unless it is on the explicit public list
Routes declare access with `require(...)` or `Public`."""

import re
from collections.abc import Iterator

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from starlette.routing import Route

from atrium.auth.deps import public

# (method, path) pairs open to anonymous callers; nothing else may be.
PUBLIC_ROUTES = {
    ("GET", "/health"),
    ("GET", "/ready"),
    ("GET", "/vault/health"),
    ("GET", "/openapi.json"),
    ("GET", "/docs"),
    ("GET", "/docs/oauth2-redirect"),
    ("GET", "/redoc"),
    ("POST", "/api/v1/auth/register"),
    ("POST", "/api/v1/auth/login"),
    ("POST", "/api/v1/auth/token"),
    ("POST", "/api/v1/auth/refresh"),
    ("POST", "/api/v1/auth/logout"),
    ("POST", "/api/auth/login"),
    ("POST", "/api/auth/logout"),
    ("POST", "/vault/auth/login"),
    ("GET", "/vault/auth/ldap-enabled"),
    ("GET", "/metrics"),
    ("POST", "/api/v1/auth/forgot-password"),
    ("POST", "/api/v1/auth/reset-password"),
    ("POST", "/api/auth/forgot-password"),
    ("POST", "/api/auth/reset-password"),
}
PARAM = re.compile(r"\{[^}]+\}")


def _calls(dependant: Dependant) -> Iterator[object]:
    for dependency in dependant.dependencies:
        yield dependency.call
        yield from _calls(dependency)


def _routes(app: FastAPI) -> Iterator[tuple[str, str, object]]:
    for route in app.routes:
        if not isinstance(route, Route):  # WebSocket routes have no HTTP methods
            continue
        for method in sorted(route.methods or ()):
            if method != "HEAD":
                yield method, route.path, route


def _is_public(context: object) -> bool:
    return public in set(_calls(context.dependant))


def _declares_permission(context: object) -> bool:
    return any(hasattr(call, "permission") for call in _calls(context.dependant))


def test_public_routes_are_exactly_the_listed_ones(app: FastAPI) -> None:
    found_public = set()
    for method, path, context in _routes(app):
        if not isinstance(context, APIRoute):
            assert (method, path) in PUBLIC_ROUTES, f"{method} {path} is not an API route"
            continue
        if _is_public(context):
            found_public.add((method, path))
        else:
            assert _declares_permission(context), f"{method} {path} declares no access"
    assert found_public <= PUBLIC_ROUTES, found_public - PUBLIC_ROUTES
    identity = {pair for pair in PUBLIC_ROUTES if "/auth/" in pair[1]}
    assert identity <= found_public


def test_every_other_route_refuses_anonymous_callers(client: TestClient, app: FastAPI) -> None:
    checked = 0
    failures = []
    for method, path, _context in _routes(app):
        if (method, path) in PUBLIC_ROUTES:
            continue
        url = PARAM.sub("1", path.replace("{backend:model_backend}", "vllm"))
        response = client.request(method, url)
        checked += 1
        if response.status_code != 401:
            failures.append(f"{method} {path}: {response.status_code}")
    assert failures == []
    assert checked >= 30


def test_protected_route_accepts_credentials(client: TestClient, create_user) -> None:
    user = create_user()
    assert client.get("/api/v1/auth/me", headers=user.headers).status_code == 200
