"""One error model for every failure a client can meet, and none of them a bare 500."""

import json
import logging
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import BaseModel

from atrium.app import create_app
from atrium.auth.deps import Public
from atrium.errors import Conflict
from tests.conftest import make_settings


class Item(BaseModel):
    name: str
    count: int


@pytest.fixture(scope="module")
def probe_client(tmp_path_factory: pytest.TempPathFactory, database_template) -> TestClient:
    """The real app plus three probe routes that fail in known ways."""
    app: FastAPI = create_app(
        make_settings(tmp_path_factory.mktemp("errors"), database_template(), log_requests=True)
    )

    @app.post("/probe/items", dependencies=[Public])
    async def create_item(item: Item) -> Item:
        return item

    @app.get("/probe/conflict", dependencies=[Public])
    async def conflict() -> None:
        raise Conflict("That name is taken")

    @app.get("/probe/crash", dependencies=[Public])
    async def crash() -> None:
        raise RuntimeError("boom")

    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


def test_malformed_json_is_422_with_location(probe_client: TestClient) -> None:
    response = probe_client.post(
        "/probe/items",
        content=b'{"name": "x", "count": ',
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 422
    body = response.json()
    assert body["code"] == "validation_error"
    assert body["errors"][0]["loc"][0] == "body"
    assert body["request_id"]


def test_invalid_field_names_the_field(probe_client: TestClient) -> None:
    response = probe_client.post("/probe/items", json={"name": "x", "count": "many"})
    assert response.status_code == 422
    assert response.json()["detail"].startswith("count:")
    assert response.json()["errors"][0]["loc"] == ["body", "count"]


def test_wrong_content_type_is_415(probe_client: TestClient) -> None:
    response = probe_client.post(
        "/probe/items", content=b"name=x", headers={"Content-Type": "text/plain"}
    )
    assert response.status_code == 415
    assert response.json()["code"] == "unsupported_media_type"


def test_domain_error_keeps_status_code_and_detail(probe_client: TestClient) -> None:
    response = probe_client.get("/probe/conflict")
    assert response.status_code == 409
    assert response.json() == {
        "detail": "That name is taken",
        "code": "conflict",
        "request_id": response.headers["x-request-id"],
    }


def test_unexpected_error_is_json_500_logged_with_trace(
    probe_client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="atrium.errors"):
        response = probe_client.get("/probe/crash", headers={"X-Request-ID": "crash-1"})
    assert response.status_code == 500
    assert response.json()["request_id"] == "crash-1"
    assert "boom" not in response.text
    record = next(r for r in caplog.records if r.name == "atrium.errors")
    assert record.exc_info is not None
    assert record.request_id == "crash-1"


def test_access_log_is_one_json_line_per_request(
    probe_client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="atrium.access"):
        probe_client.get("/health", headers={"X-Request-ID": "log-1"})
    lines = [json.loads(r.getMessage()) for r in caplog.records if r.name == "atrium.access"]
    assert [line["request_id"] for line in lines] == ["log-1"]
    assert lines[0]["status"] == 200
    assert lines[0]["path"] == "/health"


def test_cors_from_settings(tmp_path: Path, database_template) -> None:
    app = create_app(
        make_settings(tmp_path, database_template(), cors_origins=["http://localhost:5173"])
    )
    with TestClient(app) as client:
        response = client.options(
            "/health",
            headers={"Origin": "http://localhost:5173", "Access-Control-Request-Method": "GET"},
        )
    assert response.headers["access-control-allow-origin"] == "http://localhost:5173"
