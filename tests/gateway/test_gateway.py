"""The OpenAI-compatible surface: the official SDK, routing, fallback, errors, metering."""

from collections.abc import Iterator

import httpx
import openai
import pytest
from fastapi.testclient import TestClient

from tests.gateway.helpers import add_provider, flush, usage_rows
from tests.gateway.upstreams import OpenAIUpstream, serve_app


@pytest.fixture(scope="module")
def upstream() -> Iterator[tuple[OpenAIUpstream, str]]:
    fake = OpenAIUpstream()
    with serve_app(fake.app) as base:
        yield fake, base


@pytest.fixture(scope="module")
def backup() -> Iterator[tuple[OpenAIUpstream, str]]:
    fake = OpenAIUpstream()
    with serve_app(fake.app) as base:
        yield fake, base


@pytest.fixture(scope="module")
def settings_overrides() -> dict[str, object]:
    """No background flush during these tests: they flush explicitly."""
    return {"usage_flush_seconds": 3600}


@pytest.fixture(scope="module")
def setup_providers(client: TestClient, upstream, backup, module_admin) -> dict:
    """Two global providers serving gpt-4o (primary first), created by an admin."""
    headers = module_admin.headers
    primary = add_provider(client, headers, upstream[1], name="primary")
    secondary = add_provider(client, headers, backup[1], name="secondary", models=["gpt-4o"])
    return {"headers": headers, "primary": primary, "secondary": secondary}


@pytest.fixture
def fakes(upstream, backup, setup_providers):
    upstream[0].reset()
    backup[0].reset()
    return upstream[0], backup[0]


def sdk(client: TestClient, secret: str) -> openai.OpenAI:
    """The official SDK, unchanged, talking to the app through the TestClient transport."""
    return openai.OpenAI(
        api_key=secret, base_url="http://testserver/v1", http_client=client, max_retries=0
    )


def test_sdk_non_stream(client, app, fakes, create_user, api_key):
    user = create_user("user")
    reply = sdk(client, api_key(user)).chat.completions.create(
        model="gpt-4o", messages=[{"role": "user", "content": "Hi"}]
    )
    assert reply.choices[0].message.content == "Hello there, friend!"
    assert reply.usage.prompt_tokens == 11
    assert fakes[0].last.headers["authorization"] == "Bearer test-key"
    rows = usage_rows(client, app, user_id=user.id)
    assert len(rows) == 1
    row = rows[0]
    assert (row.status, row.status_code, row.provider, row.model) == (
        "ok",
        200,
        "primary",
        "gpt-4o",
    )
    assert (row.prompt_tokens, row.completion_tokens, row.estimated) == (11, 3, False)
    assert row.key_id is not None and row.origin == "v1"
    assert row.cost_usd == pytest.approx((11 * 2.5 + 3 * 10.0) / 1e6)


def test_sdk_stream_with_jwt(client, app, fakes, create_user):
    user = create_user("user")
    stream = sdk(client, user.token).chat.completions.create(
        model="gpt-4o", messages=[{"role": "user", "content": "Hi"}], stream=True
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Hello there, friend!"
    assert all(c.usage is None for c in chunks)  # the client did not ask for usage
    assert fakes[0].last.json["stream_options"] == {"include_usage": True}
    row = usage_rows(client, app, user_id=user.id)[0]
    assert row.stream and row.completion_tokens == 3 and not row.estimated
    assert row.ttft_ms is not None


def test_stream_usage_forwarded_when_asked(client, fakes, create_user):
    user = create_user("user")
    chunks = list(
        sdk(client, user.token).chat.completions.create(
            model="gpt-4o",
            messages=[{"role": "user", "content": "Hi"}],
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 3


def test_stream_without_upstream_usage_is_estimated(client, app, fakes, create_user):
    fakes[0].omit_usage()
    user = create_user("user")
    list(
        sdk(client, user.token).chat.completions.create(
            model="gpt-4o", messages=[{"role": "user", "content": "Hi there"}], stream=True
        )
    )
    row = usage_rows(client, app, user_id=user.id)[0]
    assert row.estimated and row.completion_tokens > 0 and row.prompt_tokens > 0


def test_tool_calls_pass_through(client, fakes, create_user):
    fakes[0].reply_with_tool_call("get_weather", {"city": "Paris"})
    user = create_user("user")
    tools = [{"type": "function", "function": {"name": "get_weather", "parameters": {}}}]
    reply = sdk(client, user.token).chat.completions.create(
        model="gpt-4o", messages=[{"role": "user", "content": "Weather?"}], tools=tools
    )
    call = reply.choices[0].message.tool_calls[0]
    assert call.function.name == "get_weather" and '"Paris"' in call.function.arguments
    assert fakes[0].last.json["tools"] == tools


def test_models_list(client, fakes, create_user):
    user = create_user("user")
    models = sdk(client, user.token).models.list()
    ids = [m.id for m in models.data]
    assert ids == ["gpt-4o", "gpt-4o-mini", "text-embedding-3-small"]
    raw = client.get("/v1/models", headers=user.headers).json()
    assert raw["object"] == "list"
    assert isinstance(raw["data"][0]["created"], int)
    # OpenAI's model list reports no window: unknown, not made up
    assert raw["data"][0]["context_window"] is None
    assert raw["data"][0]["status"] == "available"  # the provider answered when it was added


def test_embeddings(client, app, fakes, create_user):
    user = create_user("user")
    reply = sdk(client, user.token).embeddings.create(
        model="text-embedding-3-small", input=["a", "bc"]
    )
    assert len(reply.data) == 2
    row = usage_rows(client, app, user_id=user.id)[0]
    assert row.endpoint == "embeddings" and row.prompt_tokens == 4


def test_unknown_model_is_404_naming_models(client, app, fakes, create_user):
    user = create_user("user")
    with pytest.raises(openai.NotFoundError) as raised:
        sdk(client, user.token).chat.completions.create(
            model="no-such-model", messages=[{"role": "user", "content": "Hi"}]
        )
    error = raised.value.body
    assert raised.value.code == "model_not_found"
    assert "gpt-4o-mini" in error["message"]
    row = usage_rows(client, app, user_id=user.id)[0]
    assert (row.status, row.status_code, row.model) == ("error", 404, "no-such-model")


def test_malformed_messages_is_400(client, app, fakes, create_user):
    user = create_user("user")
    with pytest.raises(openai.BadRequestError) as raised:
        sdk(client, user.token).chat.completions.create(
            model="gpt-4o", messages=[{"role": "wizard", "content": "Hi"}]
        )
    assert raised.value.body["type"] == "invalid_request_error"
    assert raised.value.body["param"] == "messages[0].role"
    response = client.post("/v1/chat/completions", content=b"{not json", headers=user.headers)
    assert response.status_code == 400
    assert response.json()["error"]["type"] == "invalid_request_error"
    rows = usage_rows(client, app, user_id=user.id)
    assert [r.status_code for r in rows] == [422, 422]  # recorded with the gateway's status


def test_provider_addressing(client, fakes, create_user):
    user = create_user("user")
    reply = sdk(client, user.token).chat.completions.create(
        model="Secondary/gpt-4o-mini", messages=[{"role": "user", "content": "Hi"}]
    )
    assert reply.model == "gpt-4o-mini"
    assert not fakes[0].requests and fakes[1].last.json["model"] == "gpt-4o-mini"


def test_fallback_on_5xx_for_a_bare_id(client, app, fakes, create_user):
    fakes[0].fail_with(503, "overloaded")
    user = create_user("user")
    reply = sdk(client, user.token).chat.completions.create(
        model="gpt-4o", messages=[{"role": "user", "content": "Hi"}]
    )
    assert reply.choices[0].message.content == "Hello there, friend!"
    assert len(fakes[0].requests) == 1 and len(fakes[1].requests) == 1
    assert usage_rows(client, app, user_id=user.id)[0].provider == "secondary"


def test_no_fallback_away_from_a_named_provider(client, app, fakes, create_user):
    fakes[0].fail_with(500, "boom")
    user = create_user("user")
    with pytest.raises(openai.InternalServerError) as raised:
        sdk(client, user.token).chat.completions.create(
            model="primary/gpt-4o", messages=[{"role": "user", "content": "Hi"}]
        )
    assert raised.value.status_code == 502 and "boom" in raised.value.message
    assert not fakes[1].requests
    assert usage_rows(client, app, user_id=user.id)[0].status_code == 502


def test_upstream_down_is_502_and_timeout_504(client, app, fakes, create_user, setup_providers):
    user = create_user("user")
    # only gpt-4o-mini: served by primary alone, so there is no fallback
    fakes[0].fail_with(500, "kaput")
    response = client.post(
        "/v1/chat/completions",
        json={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hi"}]},
        headers=user.headers,
    )
    assert response.status_code == 502 and "kaput" in response.json()["error"]["message"]
    fakes[0].reset()
    client.put(
        f"/api/v1/llm/providers/{setup_providers['primary']['id']}",
        json={"settings": {"timeout": 0.3}},
        headers=setup_providers["headers"],
    )
    try:
        fakes[0].slow(1.0)
        response = client.post(
            "/v1/chat/completions",
            json={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hi"}]},
            headers=user.headers,
        )
        assert response.status_code == 504, response.text
        assert response.json()["error"]["code"] == "upstream_timeout"
    finally:
        client.put(
            f"/api/v1/llm/providers/{setup_providers['primary']['id']}",
            json={"settings": {"timeout": 60}},
            headers=setup_providers["headers"],
        )
    rows = usage_rows(client, app, user_id=user.id)
    assert [r.status_code for r in rows] == [502, 504]


def test_disabled_provider(client, app, fakes, create_user, setup_providers):
    admin = setup_providers["headers"]
    secondary = setup_providers["secondary"]["id"]
    assert (
        client.post(f"/api/v1/llm/providers/{secondary}/toggle", headers=admin).json()["enabled"]
        is False
    )
    try:
        user = create_user("user")
        response = client.post(
            "/v1/chat/completions",
            json={"model": "secondary/gpt-4o", "messages": [{"role": "user", "content": "Hi"}]},
            headers=user.headers,
        )
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "model_not_found"

        async def through_service():
            principal = await app.state.auth_cache.principal_for_user(user.id)
            await app.state.gateway.complete(
                principal,
                {"model": "secondary/gpt-4o", "messages": [{"role": "user", "content": "x"}]},
                origin="test",
            )

        from atrium.gateway.errors import ProviderDisabled

        with pytest.raises(ProviderDisabled) as raised:
            client.portal.call(through_service)
        assert raised.value.status_code == 409
        assert [r.status_code for r in usage_rows(client, app, user_id=user.id)] == [409, 409]
    finally:
        client.post(f"/api/v1/llm/providers/{secondary}/toggle", headers=admin)


def test_stream_error_before_first_chunk_is_a_status(client, fakes, create_user):
    fakes[0].fail_with(400, "bad parameter")
    user = create_user("user")
    response = client.post(
        "/v1/chat/completions",
        json={
            "model": "primary/gpt-4o",
            "stream": True,
            "messages": [{"role": "user", "content": "Hi"}],
        },
        headers=user.headers,
    )
    assert response.status_code == 400
    assert "bad parameter" in response.json()["error"]["message"]


def test_default_model_when_absent(client, app, fakes, create_user):
    user = create_user("user")

    async def call() -> dict:
        principal = await app.state.auth_cache.principal_for_user(user.id)
        assert await app.state.gateway.default_model(principal) == "gpt-4o"
        return await app.state.gateway.complete(
            principal, {"messages": [{"role": "user", "content": "x"}]}, origin="workspace"
        )

    reply = client.portal.call(call)
    assert reply["choices"][0]["message"]["content"] == "Hello there, friend!"
    row = usage_rows(client, app, user_id=user.id)[0]
    assert row.origin == "workspace"


def test_v1_requires_credentials(client, fakes):
    response = client.post("/v1/chat/completions", json={})
    assert response.status_code == 401
    assert response.json()["error"]["type"] == "authentication_error"
    assert client.get("/v1/models").status_code == 401


def test_viewer_cannot_execute(client, fakes, create_user):
    viewer = create_user("viewer")
    response = client.post(
        "/v1/chat/completions",
        json={"model": "gpt-4o", "messages": [{"role": "user", "content": "Hi"}]},
        headers=viewer.headers,
    )
    assert response.status_code == 403


def test_flush_is_explicit_and_batched(client, app, fakes, create_user):
    user = create_user("user")
    for _ in range(3):
        client.post(
            "/v1/chat/completions",
            json={"model": "gpt-4o", "messages": [{"role": "user", "content": "Hi"}]},
            headers=user.headers,
        )
    assert len(app.state.gateway.usage.pending) >= 3  # queued, not written on the request path
    flush(client, app)
    assert not app.state.gateway.usage.pending
    assert len(usage_rows(client, app, user_id=user.id)) == 3


def test_unreachable_upstream_is_502(client, app, create_user, setup_providers):
    admin = setup_providers["headers"]
    dead = add_provider(client, admin, "http://127.0.0.1:9", name="dead", models=["dead-model"])
    user = create_user("user")
    response = client.post(
        "/v1/chat/completions",
        json={"model": "dead-model", "messages": [{"role": "user", "content": "Hi"}]},
        headers=user.headers,
    )
    assert response.status_code == 502
    assert "could not connect" in response.json()["error"]["message"]
    client.delete(f"/api/v1/llm/providers/{dead['id']}", headers=admin)
    assert httpx  # the SDK and the client share httpx
