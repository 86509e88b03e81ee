"""Providers under /api/v1/llm/providers (seed 002)."""

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from atrium.providers.tables import LlmProvider
from tests.conftest import BACKEND
from tests.gateway.helpers import BUILDER_GRANTS, add_provider, ensure_role, usage_rows
from tests.gateway.upstreams import OpenAIUpstream, serve_app

SECRET = "sk-live-SECRET-value-0123456789abcdef"


@pytest.fixture(scope="module")
def upstream() -> Iterator[tuple[OpenAIUpstream, str]]:
    fake = OpenAIUpstream(api_key=SECRET)
    with serve_app(fake.app) as base:
        yield fake, base


@pytest.fixture
def fake(upstream):
    upstream[0].reset()
    return upstream[0]


@pytest.fixture
def builder(client: TestClient, app, create_user):
    """A user whose role may own providers (no built-in role but admin has llm:write)."""
    ensure_role(client, app, "builder", BUILDER_GRANTS)
    return create_user("builder")


def test_available_lists_nine_types(client, as_user):
    response = client.get("/api/v1/llm/providers/available", headers=as_user("viewer"))
    assert response.status_code == 200
    types = [p["type"] for p in response.json()["available_providers"]]
    assert types == [
        "openai",
        "anthropic",
        "google",
        "cohere",
        "together",
        "replicate",
        "vllm",
        "ollama",
        "custom",
    ]
    openai = response.json()["available_providers"][0]
    assert openai["default_api_base"] == "https://api.openai.com/v1"
    assert {f["name"] for f in openai["config_fields"]} >= {"api_key", "api_base"}
    assert client.get("/api/v1/llm/providers/available").status_code == 401


def test_admin_creates_a_global_provider_with_a_masked_key(client, admin, upstream):
    created = add_provider(client, admin.headers, upstream[1], name="Global", api_key=SECRET)
    assert created["is_global"] and created["owner_id"] is None
    assert created["api_key_configured"] is True
    assert created["api_key_masked"] == "****cdef"
    assert SECRET not in str(created)
    assert created["settings"]["timeout"] == 60 and created["type"] == "custom"
    listed = client.get("/api/v1/llm/providers", headers=admin.headers).json()
    assert any(p["id"] == created["id"] for p in listed["providers"])


def test_key_is_unreadable_in_the_database_file(client, app, admin, upstream):
    add_provider(client, admin.headers, upstream[1], name="Secretive", api_key=SECRET)
    if BACKEND != "sqlite":
        pytest.skip("the database file check reads the SQLite file")
    path = Path(app.state.db.url.split("///", 1)[1])

    async def checkpoint() -> None:
        async with app.state.db.engine.connect() as connection:
            await connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")

    client.portal.call(checkpoint)
    raw = b"".join(p.read_bytes() for p in path.parent.glob(path.name + "*"))
    assert b"Secretive" in raw  # the row is there ...
    assert SECRET.encode() not in raw  # ... its key is not


def test_base_url_accepted_as_input(client, admin, upstream):
    response = client.post(
        "/api/v1/llm/providers",
        json={"name": "ByBaseUrl", "type": "vllm", "base_url": f"{upstream[1]}/v1"},
        headers=admin.headers,
    )
    assert response.status_code == 201
    assert response.json()["api_base"] == f"{upstream[1]}/v1"


def test_create_validation(client, admin):
    bad_type = {"name": "x", "type": "skynet"}
    assert (
        client.post("/api/v1/llm/providers", json=bad_type, headers=admin.headers).status_code
        == 422
    )
    bad_scheme = {"name": "x", "type": "custom", "api_base": "ftp://example.com"}
    response = client.post("/api/v1/llm/providers", json=bad_scheme, headers=admin.headers)
    assert response.status_code == 400 and response.json()["code"] == "invalid_api_base"


def test_duplicate_name_is_409(client, admin, upstream):
    add_provider(client, admin.headers, upstream[1], name="Twin")
    response = client.post(
        "/api/v1/llm/providers", json={"name": "twin", "type": "custom"}, headers=admin.headers
    )
    assert response.status_code == 409


def test_permissions(client, as_user, admin, upstream):
    body = {"name": "nope", "type": "custom", "api_base": "https://api.example.com/v1"}
    assert client.post("/api/v1/llm/providers", json=body).status_code == 401
    assert (
        client.post("/api/v1/llm/providers", json=body, headers=as_user("user")).status_code == 403
    )
    created = add_provider(client, admin.headers, upstream[1], name="Locked")
    user = as_user("user")
    assert client.get(f"/api/v1/llm/providers/{created['id']}", headers=user).status_code == 200
    assert client.delete(f"/api/v1/llm/providers/{created['id']}", headers=user).status_code == 403


def test_user_providers_are_private_and_ssrf_checked(client, app, builder, create_user, admin):
    loopback = {"name": "mine", "type": "vllm", "api_base": "http://127.0.0.1:8000/v1"}
    response = client.post("/api/v1/llm/providers", json=loopback, headers=builder.headers)
    assert response.status_code == 400 and "not a public" in response.json()["detail"]
    for address in ("http://10.1.2.3/v1", "http://169.254.169.254/", "http://[::ffff:127.0.0.1]/"):
        response = client.post(
            "/api/v1/llm/providers",
            json={"name": "m", "type": "custom", "api_base": address},
            headers=builder.headers,
        )
        assert response.status_code == 400, address
    public = {
        "name": "mine",
        "type": "openai",
        "api_base": "https://93.184.215.14/v1",
        "api_key": SECRET,
        "models": ["my-model"],
    }
    created = client.post("/api/v1/llm/providers", json=public, headers=builder.headers)
    assert created.status_code == 201, created.text
    mine = created.json()
    assert mine["is_global"] is False and mine["owner_id"] == str(builder.id)
    # an admin may point a global provider at a private address (a local vLLM)
    admin_local = {"name": "local-vllm", "type": "vllm", "api_base": "http://127.0.0.1:8000/v1"}
    assert (
        client.post("/api/v1/llm/providers", json=admin_local, headers=admin.headers).status_code
        == 201
    )

    other = create_user("builder")
    path = f"/api/v1/llm/providers/{mine['id']}"
    assert client.get(path, headers=other.headers).status_code == 404
    assert client.put(path, json={"name": "x"}, headers=other.headers).status_code == 404
    assert client.delete(path, headers=other.headers).status_code == 404
    assert client.post(f"{path}/toggle", headers=other.headers).status_code == 404
    assert client.post(f"{path}/test", headers=other.headers).status_code == 404
    theirs = client.get("/api/v1/llm/providers", headers=other.headers).json()["providers"]
    assert mine["id"] not in [p["id"] for p in theirs]
    # ?user_id= of someone else needs reach
    query = f"/api/v1/llm/providers?user_id={builder.id}"
    assert client.get(query, headers=other.headers).status_code == 403
    seen = client.get(query, headers=admin.headers).json()["providers"]
    assert mine["id"] in [p["id"] for p in seen]

    # the connect-time guard: an address that turns private after it was saved is refused
    async def rebind() -> None:
        async with app.state.db.sessions() as session:
            await session.execute(
                update(LlmProvider)
                .where(LlmProvider.id == int(mine["id"]))
                .values(api_base="http://127.0.0.1:9/v1")
            )
            await session.commit()
        app.state.gateway.providers.clear()

    client.portal.call(rebind)
    response = client.post(
        "/v1/chat/completions",
        json={"model": "my-model", "messages": [{"role": "user", "content": "hi"}]},
        headers=builder.headers,
    )
    assert response.status_code == 502
    assert "not a public internet address" in response.json()["error"]["message"]
    tested = client.post(f"{path}/test", headers=builder.headers).json()
    assert tested["ok"] is False and "not a public" in tested["error"]


def test_update_moving_api_base_drops_the_key(client, admin, upstream):
    created = add_provider(client, admin.headers, upstream[1], name="Mover", api_key=SECRET)
    path = f"/api/v1/llm/providers/{created['id']}"
    renamed = client.put(path, json={"description": "same place"}, headers=admin.headers).json()
    assert renamed["api_key_configured"] is True and renamed["description"] == "same place"
    moved = client.put(path, json={"api_base": "http://127.0.0.1:1/v1"}, headers=admin.headers)
    assert moved.status_code == 200 and moved.json()["api_key_configured"] is False
    again = client.put(
        path, json={"api_base": f"{upstream[1]}/v1", "api_key": SECRET}, headers=admin.headers
    ).json()
    assert again["api_key_configured"] is True
    assert client.get(path, headers=admin.headers).json()["api_base"] == f"{upstream[1]}/v1"


def test_toggle_and_delete(client, admin, upstream):
    created = add_provider(client, admin.headers, upstream[1], name="Toggler")
    path = f"/api/v1/llm/providers/{created['id']}"
    assert client.post(f"{path}/toggle", headers=admin.headers).json()["enabled"] is False
    assert client.get(path, headers=admin.headers).json()["enabled"] is False
    deleted = client.delete(path, headers=admin.headers)
    assert deleted.status_code == 200 and deleted.json() == {"id": created["id"], "deleted": True}
    assert client.get(path, headers=admin.headers).status_code == 404
    assert client.get("/api/v1/llm/providers/nonsense", headers=admin.headers).status_code == 422


def test_test_endpoint_reports_ok_and_failure(client, app, admin, upstream, fake):
    created = add_provider(client, admin.headers, upstream[1], name="Testee", api_key=SECRET)
    path = f"/api/v1/llm/providers/{created['id']}"
    result = client.post(f"{path}/test", headers=admin.headers).json()
    assert result["ok"] is True and result["success"] is True
    assert result["models"] == ["gpt-4o", "gpt-4o-mini", "text-embedding-3-small"]
    assert isinstance(result["latency_ms"], int) and result["error"] is None
    assert client.get(path, headers=admin.headers).json()["last_test_status"] == "success"
    wrong = client.put(path, json={"api_key": "sk-wrong-key-000000"}, headers=admin.headers)
    assert wrong.status_code == 200
    result = client.post(f"{path}/test", headers=admin.headers)
    assert result.status_code == 200
    body = result.json()
    assert body["ok"] is False and body["success"] is False and "401" in body["error"]
    assert client.get(path, headers=admin.headers).json()["last_test_status"] == "failed"
    rows = usage_rows(client, app, user_id=admin.id, origin="test")
    assert [r.status for r in rows] == ["ok", "error"]


def test_test_falls_back_to_a_one_token_completion(client, admin, upstream, fake):
    created = add_provider(client, admin.headers, upstream[1], name="NoList", api_key=SECRET)
    fake.requests.clear()  # creating it asked for the model list already
    fake.fail_with(404, "no model list here")
    result = client.post(f"/api/v1/llm/providers/{created['id']}/test", headers=admin.headers)
    # the list failed and so does the completion (the knob fails everything), honestly reported
    assert result.status_code == 200 and result.json()["ok"] is False
    assert [r.path for r in fake.requests] == ["/v1/models", "/v1/chat/completions"]
    assert fake.last.json["max_tokens"] == 1


def test_dead_provider_test_is_not_a_500(client, admin):
    dead = client.post(
        "/api/v1/llm/providers",
        json={"name": "Dead", "type": "ollama", "api_base": "http://127.0.0.1:9"},
        headers=admin.headers,
    ).json()
    result = client.post(f"/api/v1/llm/providers/{dead['id']}/test", headers=admin.headers)
    assert result.status_code == 200
    assert result.json()["ok"] is False and "connect" in result.json()["error"]
