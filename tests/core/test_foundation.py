"""The skeleton: health, readiness, the error model, request ids and body limits."""

import os
import shutil

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient


def test_health_answers_without_credentials(client: TestClient) -> None:
    response = client.get("/health")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"
    assert response.json()["version"]


def test_ready_when_database_at_head(client: TestClient) -> None:
    response = client.get("/ready")
    assert response.status_code == 200, response.text


def test_unknown_route_is_json_404_with_request_id(client: TestClient) -> None:
    response = client.get("/no/such/path", headers={"X-Request-ID": "trace-123"})
    assert response.status_code == 404
    body = response.json()
    assert body["code"] == "not_found"
    assert body["request_id"] == "trace-123"
    assert response.headers["x-request-id"] == "trace-123"


def test_request_id_generated_when_absent(client: TestClient) -> None:
    response = client.get("/health")
    assert len(response.headers["x-request-id"]) >= 16


def test_oversized_body_is_413(client: TestClient, app: FastAPI) -> None:
    limit = app.state.settings.max_body_bytes
    response = client.post(
        "/health", content=b"x" * (limit + 1), headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 413
    assert response.json()["code"] == "payload_too_large"


def test_ready_turns_503_when_sqlite_file_removed_and_back(
    client: TestClient, app: FastAPI
) -> None:
    path = app.state.readiness.path
    if path is None:
        pytest.skip("SQLite only; the PostgreSQL outage is covered in test_startup")
    moved = path + ".away"
    shutil.move(path, moved)
    try:
        response = client.get("/ready")
        assert response.status_code == 503
        assert "missing" in response.json()["detail"]
    finally:
        shutil.move(moved, path)
    assert os.path.exists(path)
    assert client.get("/ready").status_code == 200
