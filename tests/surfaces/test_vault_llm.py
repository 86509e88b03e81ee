"""Vault's model pickers and health (seed 000, CONTRACTS), over the gateway."""

from collections.abc import Iterator

import pytest

from tests.gateway.helpers import add_provider
from tests.gateway.upstreams import OpenAIUpstream, serve_app


@pytest.fixture(scope="module")
def upstream() -> Iterator[tuple[OpenAIUpstream, str]]:
    fake = OpenAIUpstream(api_key=None)
    with serve_app(fake.app) as base:
        yield fake, base


def test_health_without_providers_is_public_and_honest(client):
    body = client.get("/vault/health").json()
    assert body["vllm_status"] == "disconnected"
    assert body["gpu_count"] == len(body["gpus"])
    assert isinstance(body["uptime_seconds"], float) and body["version"]
    assert body["status"] == "ok"  # no vLLM is configured, so none is missing


def test_models_need_credentials(client):
    assert client.get("/vault/models").status_code == 401
    assert client.get("/vault/admin/config/models").status_code == 401


def test_models_and_defaults_follow_the_providers(client, admin, create_user, upstream):
    upstream[0].reset()
    upstream[0].models = ["Qwen/Qwen2.5-7B-Instruct"]
    upstream[0].model_fields = {"Qwen/Qwen2.5-7B-Instruct": {"max_model_len": 32768}}
    user = create_user("user")
    assert client.get("/vault/models", headers=user.headers).json() == []
    config = client.get("/vault/admin/config/models", headers=user.headers).json()
    assert config["default_model_id"] == ""
    add_provider(
        client,
        admin.headers,
        upstream[1],
        name="local",
        type="vllm",
        models=["Qwen/Qwen2.5-7B-Instruct"],
        settings={"temperature": 0.3},
    )
    models = client.get("/vault/models", headers=user.headers).json()
    assert [m["id"] for m in models] == ["Qwen/Qwen2.5-7B-Instruct"]
    # the window is the one vLLM reported in its model list; the status its last answer
    assert models[0]["status"] == "available" and models[0]["context_window"] == 32768
    config = client.get("/vault/admin/config/models", headers=user.headers).json()
    assert config == {
        "default_model_id": "Qwen/Qwen2.5-7B-Instruct",
        "default_temperature": 0.3,
        "default_max_tokens": 4096,
        "default_system_prompt": "",
    }
    # a bare id with a slash is a model id, not a provider name
    reply = client.post(
        "/v1/chat/completions",
        json={"model": "Qwen/Qwen2.5-7B-Instruct", "messages": [{"role": "user", "content": "x"}]},
        headers=user.headers,
    )
    assert reply.status_code == 200 and upstream[0].last.json["model"] == "Qwen/Qwen2.5-7B-Instruct"


def test_health_follows_the_default_models_provider_whatever_its_type(client, app, admin, upstream):
    from atrium.system.service import InferenceProbe

    add_provider(client, admin.headers, upstream[1], name="remote", type="openai", models=["gx"])
    saved = client.put(
        "/api/v1/admin/settings", json={"default_model": "gx"}, headers=admin.headers
    )
    assert saved.status_code == 200, saved.text
    app.state.service_monitor.probe = InferenceProbe()
    body = client.get("/vault/health").json()
    assert body["vllm_status"] == "connected" and body["status"] == "ok"
    upstream[0].fail_with(503, "down")
    try:
        app.state.service_monitor.probe = InferenceProbe()
        body = client.get("/vault/health").json()
        assert body["vllm_status"] == "disconnected" and body["status"] == "degraded"
    finally:
        upstream[0].reset()
