"""The OpenAPI document tells the truth: the error bodies as sent, the `/v1` request bodies,
a schema on every JSON answer, enums on enumerated parameters, money as the number it is.
(`tests/test_openapi_fuzz.py` checks real answers against it.)"""

from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

ERROR_STATUSES = ("400", "401", "403", "404", "409", "422", "429")


@pytest.fixture(scope="module")
def document(client: TestClient) -> dict[str, Any]:
    return client.get("/openapi.json").json()


def _resolve(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    if "$ref" in schema:
        return document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
    return schema


def _operations(document: dict[str, Any]):
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            yield f"{method.upper()} {path}", path, operation


def test_422_is_documented_as_sent(document, client: TestClient, admin) -> None:
    for label, path, operation in _operations(document):
        if path.startswith("/v1/"):
            continue
        schema = _resolve(
            document, operation["responses"]["422"]["content"]["application/json"]["schema"]
        )
        assert schema["properties"]["detail"]["type"] == "string", label
        assert schema["properties"]["errors"]["type"] == "array", label
        assert {"detail", "code", "errors"} <= set(schema["required"]), label
    assert "HTTPValidationError" not in document["components"]["schemas"]
    sent = client.get("/api/v1/projects/abc", headers=admin.headers).json()
    assert isinstance(sent["detail"], str) and isinstance(sent["errors"], list)


def test_every_operation_documents_the_error_statuses(document) -> None:
    missing = []
    for label, path, operation in _operations(document):
        for status in ERROR_STATUSES:
            answer = operation["responses"].get(status, {})
            schema = answer.get("content", {}).get("application/json", {}).get("schema")
            if not schema:
                missing.append(f"{label} {status}")
                continue
            expected = "OpenAIErrorBody" if path.startswith("/v1/") else "Body"
            if not schema.get("$ref", "").endswith(expected):
                missing.append(f"{label} {status} {schema}")
    assert missing == []


def test_v1_request_bodies_and_answers_are_declared(document) -> None:
    for path in ("/v1/chat/completions", "/v1/embeddings"):
        operation = document["paths"][path]["post"]
        body = operation["requestBody"]["content"]["application/json"]["schema"]
        assert body["type"] == "object" and body["required"], path
    chat = document["paths"]["/v1/chat/completions"]["post"]["responses"]["200"]["content"]
    assert {"application/json", "text/event-stream"} <= set(chat)


def test_every_json_answer_has_a_schema(document) -> None:
    bare = []
    for label, _path, operation in _operations(document):
        for status, answer in operation["responses"].items():
            schema = answer.get("content", {}).get("application/json", {}).get("schema")
            if status.startswith("2") and schema is not None and not schema:
                bare.append(f"{label} {status}")
    assert bare == []


def test_enumerated_query_parameters_have_enums(document) -> None:
    for path in ("/api/v1/llm/usage/top-users", "/api/v1/llm/usage/top-models"):
        parameters = document["paths"][path]["get"]["parameters"]
        metric = next(p for p in parameters if p["name"] == "metric")
        assert set(metric["schema"]["enum"]) == {"calls", "tokens", "cost"}


def test_monthly_budget_accepts_what_it_declares(
    document, client: TestClient, app: FastAPI, admin, create_user
) -> None:
    update = document["components"]["schemas"]["AdminUserUpdate"]["properties"]
    declared = [option.get("type") for option in update["monthly_budget_usd"]["anyOf"]]
    assert "string" not in declared and "number" in declared
    user = create_user()
    path = f"/api/v1/admin/users/{user.id}"
    for given, stored in ((12.5, 12.5), ("7.25", 7.25), (3.123456, 3.1234)):
        response = client.patch(path, json={"monthly_budget_usd": given}, headers=admin.headers)
        assert response.status_code == 200, response.text
        assert response.json()["monthlyBudgetUsd"] == stored
    for bad in ("abc", -1, 1e12):
        response = client.patch(path, json={"monthly_budget_usd": bad}, headers=admin.headers)
        assert response.status_code == 422
