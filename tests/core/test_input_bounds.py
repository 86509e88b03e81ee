"""Numbers in paths, queries and bodies: out of the id range 422, an unknown id in range 404
, for every route, including those added later."""

import base64
import re
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from atrium.params import MAX_ID

HUGE = "99999999999999999999"  # above SQLite's and PostgreSQL's 64-bit integers
PARAM = re.compile(r"\{([^}]+)\}")


def _is_validation_error(response: Any) -> bool:
    body = response.json()
    return (
        response.status_code == 422
        and isinstance(body.get("detail"), str)
        and body.get("code") == "validation_error"
        and isinstance(body.get("errors"), list)
        and body["errors"]
    )


def _integer_schemas(schema: dict[str, Any]) -> list[dict[str, Any]]:
    options = schema.get("anyOf") or [schema]
    return [option for option in options if option.get("type") == "integer"]


def _unbounded_in(schema: Any, components: dict[str, Any], where: str, seen: frozenset) -> list:
    found = []
    if isinstance(schema, list):
        for item in schema:
            found += _unbounded_in(item, components, where, seen)
        return found
    if not isinstance(schema, dict):
        return found
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        if name not in seen:
            found += _unbounded_in(components[name], components, f"{where}>{name}", seen | {name})
        return found
    if schema.get("type") == "integer" and "maximum" not in schema:
        found.append(where)
    for key, value in schema.items():
        if key == "properties":
            for name, sub in value.items():
                found += _unbounded_in(sub, components, f"{where}.{name}", seen)
        elif isinstance(value, dict | list):
            found += _unbounded_in(value, components, where, seen)
    return found


def test_every_integer_in_the_openapi_is_bounded(app: FastAPI) -> None:
    spec = app.openapi()
    components = spec["components"]["schemas"]
    unbounded = []
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            label = f"{method.upper()} {path}"
            for parameter in operation.get("parameters", []):
                for schema in _integer_schemas(parameter["schema"]):
                    if "maximum" not in schema or "minimum" not in schema:
                        unbounded.append(f"{label} {parameter['name']}")
                    elif schema["maximum"] > MAX_ID:
                        unbounded.append(f"{label} {parameter['name']} above the id range")
            for content in operation.get("requestBody", {}).get("content", {}).values():
                unbounded += _unbounded_in(
                    content.get("schema", {}), components, label, frozenset()
                )
    assert unbounded == []


def _path_routes(app: FastAPI) -> list[tuple[str, str, dict[str, str]]]:
    """(method, path, {param: type}) for every operation with path parameters."""
    routes = []
    for path, operations in app.openapi()["paths"].items():
        if "{" not in path:
            continue
        for method, operation in operations.items():
            types = {}
            for parameter in operation.get("parameters", []):
                if parameter["in"] == "path":
                    schemas = _integer_schemas(parameter["schema"])
                    types[parameter["name"]] = "integer" if schemas else "string"
            routes.append((method.upper(), path, types))
    return routes


def test_every_route_refuses_an_out_of_range_path_number(client: TestClient, app: FastAPI, admin):
    failures = []
    checked = 0
    for method, path, types in _path_routes(app):
        url = PARAM.sub(HUGE, path)
        response = client.request(method, url, headers=admin.headers, json={})
        numeric = "integer" in types.values()
        if numeric and not _is_validation_error(response):
            failures.append(f"{method} {path}: {response.status_code} {response.text[:120]}")
        elif response.status_code >= 500 and response.status_code != 503:
            # 503 is the documented answer of a route whose dependency is not configured
            failures.append(f"{method} {path}: {response.status_code}")
        checked += numeric
    assert failures == []
    assert checked >= 20


def test_every_integer_query_parameter_refuses_out_of_range(
    client: TestClient, app: FastAPI, admin
):
    failures = []
    for path, operations in app.openapi()["paths"].items():
        operation = operations.get("get")
        if operation is None:
            continue
        url = PARAM.sub("1", path)
        for parameter in operation.get("parameters", []):
            if parameter["in"] != "query" or not _integer_schemas(parameter["schema"]):
                continue
            for value in (HUGE, "-1"):
                response = client.get(url, params={parameter["name"]: value}, headers=admin.headers)
                if not _is_validation_error(response):
                    failures.append(
                        f"GET {path}?{parameter['name']}={value}: {response.status_code}"
                    )
    assert failures == []


@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/projects/99999999999999999999",
        "/api/v1/projects/2147483648",
        "/api/v1/projects/0",
        "/api/v1/projects/-3",
        "/api/v1/projects/abc",
        "/vault/conversations?offset=125913412819692191744",
        "/api/v1/projects?cursor=99999999999999999999",
        "/api/v1/files?cursor=99999999999999999999",
        "/api/v1/conversations?project_id=99999999999999999999",
        "/api/v1/conversations/1/messages?before=99999999999999999999",
        "/api/v1/llm/providers/99999999999999999999",
        "/api/v1/llm/providers/nonsense",
        "/api/v1/llm/providers?user_id=99999999999999999999",
        "/api/v1/permissions/check?resource=users&action=read&user_id=99999999999999999999",
    ],
)
def test_out_of_range_numbers_are_422(client: TestClient, admin, url: str) -> None:
    response = client.get(url, headers=admin.headers)
    assert _is_validation_error(response), (response.status_code, response.text)


def test_out_of_range_numbers_in_bodies_are_422(client: TestClient, create_user) -> None:
    user = create_user()
    response = client.post(
        "/api/v1/conversations", json={"title": "t", "project_id": HUGE}, headers=user.headers
    )
    assert _is_validation_error(response), response.text
    conversation = client.post("/api/v1/conversations", json={"title": "t"}, headers=user.headers)
    messages = f"/api/v1/conversations/{conversation.json()['id']}/messages"
    response = client.post(
        messages, json={"content": "hi", "files": [int(HUGE)]}, headers=user.headers
    )
    assert _is_validation_error(response), response.text
    # a file named by a string that no id can match is a file that does not exist
    response = client.post(messages, json={"content": "hi", "files": [HUGE]}, headers=user.headers)
    assert response.status_code == 404
    assert response.json()["code"] == "file_not_found"


def test_a_cursor_naming_an_out_of_range_id_is_refused(client: TestClient, create_user) -> None:
    user = create_user()
    raw = f"2026-01-01T00:00:00+00:00|{HUGE}".encode()
    cursor = base64.urlsafe_b64encode(raw).decode().rstrip("=")
    response = client.get("/api/v1/conversations", params={"cursor": cursor}, headers=user.headers)
    assert response.status_code == 400
    assert response.json()["code"] == "bad_cursor"


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/projects",
        "/api/v1/conversations",
        "/api/v1/files",
        "/vault/conversations",
        "/api/v1/llm/providers",
        "/api/v1/admin/users",
        "/api/v1/tokens",
    ],
)
def test_an_unknown_id_in_range_is_404(client: TestClient, admin, path: str) -> None:
    for ident in (MAX_ID, 1234567):
        response = client.get(f"{path}/{ident}", headers=admin.headers)
        assert response.status_code == 404, (path, response.text)
        assert isinstance(response.json()["detail"], str)
