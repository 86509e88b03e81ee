"""Providers added by URL and key alone serve the models they list."""

import asyncio
from collections.abc import Iterator

import openai
import pytest

from atrium.providers import service as providers_service
from tests.gateway.helpers import BUILDER_GRANTS, ensure_role
from tests.gateway.upstreams import OllamaUpstream, OpenAIUpstream, serve_app

PROVIDERS = "/api/v1/llm/providers"


@pytest.fixture(scope="module")
def upstream() -> Iterator[tuple[OpenAIUpstream, str]]:
    fake = OpenAIUpstream()
    with serve_app(fake.app) as base:
        yield fake, base


@pytest.fixture(scope="module")
def ollama() -> Iterator[tuple[OllamaUpstream, str]]:
    fake = OllamaUpstream()
    with serve_app(fake.app) as base:
        yield fake, base


@pytest.fixture
def fake(upstream):
    upstream[0].reset()
    return upstream[0]


def add(client, headers, base: str, **fields) -> dict:
    body = {"name": "disc", "type": "openai", "api_base": f"{base}/v1", "api_key": "test-key"}
    response = client.post(PROVIDERS, json={**body, **fields}, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()


def remove(client, headers, provider: dict) -> None:
    assert client.delete(f"{PROVIDERS}/{provider['id']}", headers=headers).status_code == 200


def sdk(client, secret: str) -> openai.OpenAI:
    return openai.OpenAI(
        api_key=secret, base_url="http://testserver/v1", http_client=client, max_retries=0
    )


def self_registered_key(client) -> tuple[dict[str, str], str]:
    body = {"email": "newcomer@example.com", "username": "newcomer", "password": "Sturdy-pass-42"}
    registered = client.post("/api/v1/auth/register", json=body)
    assert registered.status_code == 201, registered.text
    headers = {"Authorization": f"Bearer {registered.json()['tokens']['accessToken']}"}
    token = client.post("/api/v1/tokens", json={"name": "sdk"}, headers=headers)
    assert token.status_code in (200, 201), token.text
    return headers, token.json()["token"]


def test_url_and_key_only_serve_the_listed_models_end_to_end(client, admin, fake, upstream):
    provider = add(client, admin.headers, upstream[1])
    assert provider["models"] == ["gpt-4o", "gpt-4o-mini", "text-embedding-3-small"]
    assert provider["discovered_models"] == provider["models"]
    assert provider["pinned_models"] == [] and provider["discovered_at"].endswith("Z")
    headers, secret = self_registered_key(client)
    try:
        models = sdk(client, secret).models.list()
        assert [m.id for m in models.data] == provider["models"]
        reply = sdk(client, secret).chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "Hi"}]
        )
        assert reply.choices[0].message.content == "Hello there, friend!"
        stream = sdk(client, secret).chat.completions.create(
            model="gpt-4o", messages=[{"role": "user", "content": "Hi"}], stream=True
        )
        text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
        assert text == "Hello there, friend!"
        conversation = client.post("/api/v1/conversations", json={}, headers=headers)
        assert conversation.status_code == 201, conversation.text
        message = client.post(
            f"/api/v1/conversations/{conversation.json()['id']}/messages",
            json={"content": "Hello?"},
            headers={"Authorization": f"Bearer {secret}"},
        )
        assert message.status_code == 200, message.text
        assert message.json()["content"] == "Hello there, friend!"
    finally:
        remove(client, admin.headers, provider)


def test_a_pinned_list_is_served_and_unpinning_serves_the_discovered(
    client, admin, fake, upstream, create_user
):
    provider = add(client, admin.headers, upstream[1], models=["gpt-4o"])
    user = create_user("user")
    try:
        assert provider["models"] == ["gpt-4o"] and len(provider["discovered_models"]) == 3
        listed = client.get("/v1/models", headers=user.headers).json()["data"]
        assert [m["id"] for m in listed] == ["gpt-4o"]
        path = f"{PROVIDERS}/{provider['id']}"
        fake.models = ["gpt-4o", "o3"]
        updated = client.put(path, json={"models": []}, headers=admin.headers).json()
        assert updated["models"] == ["gpt-4o", "o3"] == updated["discovered_models"]
        listed = client.get("/v1/models", headers=user.headers).json()["data"]
        assert [m["id"] for m in listed] == ["gpt-4o", "o3"]
    finally:
        remove(client, admin.headers, provider)


def test_test_refreshes_the_discovered_models(client, admin, fake, upstream):
    provider = add(client, admin.headers, upstream[1])
    try:
        fake.models = ["gpt-5"]
        result = client.post(f"{PROVIDERS}/{provider['id']}/test", headers=admin.headers).json()
        assert result["ok"] is True and result["models"] == ["gpt-5"]
        read = client.get(f"{PROVIDERS}/{provider['id']}", headers=admin.headers).json()
        assert read["models"] == ["gpt-5"] and read["last_test_status"] == "success"
    finally:
        remove(client, admin.headers, provider)


def test_a_dead_provider_is_created_and_says_why(client, admin):
    body = {"name": "dead", "type": "vllm", "api_base": "http://127.0.0.1:9/v1"}
    response = client.post(PROVIDERS, json=body, headers=admin.headers)
    assert response.status_code == 201
    created = response.json()
    try:
        assert created["models"] == [] and created["discovered_at"] is None
        assert created["last_test_status"] == "failed" and created["last_test_error"]
    finally:
        remove(client, admin.headers, created)


def test_an_unknown_model_is_looked_up_once_then_answered_from_memory(
    client, admin, fake, upstream, create_user
):
    provider = add(client, admin.headers, upstream[1])
    user = create_user("user")
    chat = {"messages": [{"role": "user", "content": "Hi"}]}
    try:
        # a model the provider started serving after it was added is found on first use
        fake.models = [*fake.models, "fresh-model"]
        fake.requests.clear()
        reply = client.post(
            "/v1/chat/completions", json={**chat, "model": "fresh-model"}, headers=user.headers
        )
        assert reply.status_code == 200, reply.text
        assert [r.path for r in fake.requests] == ["/v1/models", "/v1/chat/completions"]
        # a model nobody serves: one look-up, then 404 without asking again
        fake.requests.clear()
        for _ in range(3):
            missing = client.post(
                "/v1/chat/completions", json={**chat, "model": "no-such"}, headers=user.headers
            )
            assert missing.status_code == 404
            assert missing.json()["error"]["code"] == "model_not_found"
        assert [r.path for r in fake.requests] == []  # asked less than 30 s ago: not again
    finally:
        remove(client, admin.headers, provider)


def test_unknown_model_asks_a_provider_not_asked_recently(
    client, app, admin, fake, upstream, create_user
):
    provider = add(client, admin.headers, upstream[1])
    user = create_user("user")
    app.state.gateway.discovery.asked.clear()
    try:
        fake.requests.clear()
        for _ in range(3):
            missing = client.post(
                "/v1/chat/completions",
                json={"model": "still-missing", "messages": [{"role": "user", "content": "x"}]},
                headers=user.headers,
            )
            assert missing.status_code == 404
        assert [r.path for r in fake.requests] == ["/v1/models"]  # once, then the miss cache
    finally:
        remove(client, admin.headers, provider)


def test_metadata_reported_by_vllm_and_ollama(client, admin, fake, upstream, ollama):
    fake.models = ["Qwen/Qwen2.5-VL-7B"]
    fake.model_fields = {"Qwen/Qwen2.5-VL-7B": {"max_model_len": 32768}}
    vllm = add(client, admin.headers, upstream[1], name="vl", type="vllm")
    ollama[0].reset()
    ollama[0].model_fields = {
        "llama3.2:latest": {"context_length": 131072, "capabilities": ["completion", "vision"]}
    }
    local = add(client, admin.headers, ollama[1], name="ol", type="ollama", api_key=None)
    try:
        assert vllm["model_metadata"] == {"Qwen/Qwen2.5-VL-7B": {"context_window": 32768}}
        llama = local["model_metadata"]["llama3.2:latest"]
        assert llama["context_window"] == 131072 and llama["supports_vision"] is True
        assert local["model_metadata"]["qwen2.5:7b"]["supports_vision"] is False
        vault = client.get("/vault/models", headers=admin.headers).json()
        by_id = {m["id"]: m for m in vault}
        assert by_id["llama3.2:latest"]["context_window"] == 131072
        assert by_id["llama3.2:latest"]["quantization"] == "Q4_K_M"
        assert by_id["Qwen/Qwen2.5-VL-7B"]["status"] == "available"
    finally:
        remove(client, admin.headers, vllm)
        remove(client, admin.headers, local)


def test_model_metadata_is_editable_by_who_may_change_the_provider(
    client, app, admin, fake, upstream, create_user
):
    provider = add(client, admin.headers, upstream[1])
    path = f"{PROVIDERS}/{provider['id']}/models/gpt-4o"
    try:
        assert client.put(path, json={"context_window": 128000}).status_code == 401
        user = create_user("user")
        assert client.put(path, json={"context_window": 1}, headers=user.headers).status_code == 403
        ensure_role(client, app, "builder", BUILDER_GRANTS)
        builder = create_user("builder")
        refused = client.put(path, json={"context_window": 1}, headers=builder.headers)
        assert refused.status_code == 403  # a global provider: administrators only
        own = client.post(
            PROVIDERS,
            json={"name": "mine", "type": "custom", "api_base": "https://93.184.215.14/v1"},
            headers=builder.headers,
        ).json()
        foreign = f"{PROVIDERS}/{own['id']}/models/x"
        assert (
            client.put(foreign, json={}, headers=create_user("builder").headers).status_code == 404
        )
        bad = client.put(path, json={"context_window": 0}, headers=admin.headers)
        assert bad.status_code == 422
        response = client.put(
            path, json={"context_window": 128000, "supports_vision": True}, headers=admin.headers
        )
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["context_window"] == 128000 and body["supports_vision"] is True
        assert body["served"] is True
        listed = {m["id"]: m for m in client.get("/v1/models", headers=user.headers).json()["data"]}
        assert listed["gpt-4o"]["context_window"] == 128000
        assert listed["gpt-4o"]["supports_vision"] is True
        cleared = client.put(path, json={"context_window": None}, headers=admin.headers).json()
        assert cleared["context_window"] is None and cleared["supports_vision"] is True
    finally:
        remove(client, admin.headers, provider)


def test_refresh_for_a_periodic_job(client, app, admin, fake, upstream):
    provider = add(client, admin.headers, upstream[1])
    gateway = app.state.gateway
    try:
        fake.models = ["later-model"]
        outcome = client.portal.call(
            lambda: providers_service.refresh_discovered_models(
                app.state.db.sessions,
                client=gateway.client,
                fernet=app.state.secrets.fernet,
                cache=gateway.providers,
                provider_ids=[int(provider["id"])],
            )
        )
        assert outcome == {int(provider["id"]): None}
        read = client.get(f"{PROVIDERS}/{provider['id']}", headers=admin.headers).json()
        assert read["models"] == ["later-model"]
    finally:
        remove(client, admin.headers, provider)


def test_concurrent_requests_for_a_new_model_share_one_lookup(
    client, app, admin, fake, upstream, create_user
):
    provider = add(client, admin.headers, upstream[1])
    user = create_user("user")
    gateway = app.state.gateway
    gateway.discovery.asked.clear()
    fake.models = [*fake.models, "twin-model"]
    fake.requests.clear()
    body = {"model": "twin-model", "messages": [{"role": "user", "content": "Hi"}]}

    async def both() -> list:
        principal = await app.state.auth_cache.principal_for_user(user.id)
        return await asyncio.gather(
            gateway.complete(principal, dict(body)), gateway.complete(principal, dict(body))
        )

    try:
        replies = client.portal.call(both)
        assert [r["choices"][0]["message"]["content"] for r in replies] == [
            "Hello there, friend!"
        ] * 2
        assert [r.path for r in fake.requests].count("/v1/models") == 1
    finally:
        remove(client, admin.headers, provider)
