"""Streams through the gateway: relayed as they arrive, from every wire format."""

from collections.abc import Iterator

import openai
import pytest

from tests.gateway.helpers import add_provider, usage_rows
from tests.gateway.upstreams import AnthropicUpstream, OpenAIUpstream, serve_app


@pytest.fixture(scope="module")
def openai_fake() -> Iterator[tuple[OpenAIUpstream, str]]:
    fake = OpenAIUpstream()
    with serve_app(fake.app) as base:
        yield fake, base


@pytest.fixture(scope="module")
def anthropic_fake() -> Iterator[tuple[AnthropicUpstream, str]]:
    fake = AnthropicUpstream()
    with serve_app(fake.app) as base:
        yield fake, base


@pytest.fixture(scope="module")
def providers(client, app, openai_fake, anthropic_fake, module_admin):
    headers = module_admin.headers
    add_provider(client, headers, openai_fake[1], name="oai", models=["gpt-4o"])
    add_provider(
        client,
        headers,
        anthropic_fake[1],
        name="claude",
        type="anthropic",
        models=["claude-sonnet-4-20250514"],
    )
    return headers


@pytest.fixture
def fakes(openai_fake, anthropic_fake, providers):
    openai_fake[0].reset()
    anthropic_fake[0].reset()
    return openai_fake[0], anthropic_fake[0]


def sdk(client, secret: str) -> openai.OpenAI:
    return openai.OpenAI(
        api_key=secret, base_url="http://testserver/v1", http_client=client, max_retries=0
    )


def test_chunks_are_relayed_as_they_arrive(client, app, fakes, create_user):
    """The first chunk reaches the caller while the upstream still holds the rest back."""
    gate = fakes[0].hold_after_first_chunk()
    user = create_user("user")

    async def read() -> tuple[list[str], list[str]]:
        principal = await app.state.auth_cache.principal_for_user(user.id)
        chunks = app.state.gateway.stream(
            principal,
            {"model": "gpt-4o", "messages": [{"role": "user", "content": "x"}]},
            origin="workspace",
        )
        before = []
        async for chunk in chunks:
            content = chunk["choices"][0]["delta"].get("content") if chunk["choices"] else None
            if content:
                before.append(content)
                break
        gate.set()  # only now may the upstream send the rest
        after = [
            c["choices"][0]["delta"].get("content") or "" async for c in chunks if c["choices"]
        ]
        return before, after

    before, after = client.portal.call(read)
    assert before == ["Hello"] and "".join(after) == " there, friend!"
    assert not fakes[0].gate_timed_out
    row = usage_rows(client, app, user_id=user.id)[0]
    assert row.origin == "workspace" and row.stream and row.completion_tokens == 3


def test_anthropic_through_v1(client, app, fakes, create_user):
    user = create_user("user")
    api = sdk(client, user.token)
    reply = api.chat.completions.create(
        model="claude-sonnet-4-20250514", messages=[{"role": "user", "content": "Hi"}]
    )
    assert reply.choices[0].message.content == "Hello there, friend!"
    assert fakes[1].last.path == "/v1/messages"
    chunks = list(
        api.chat.completions.create(
            model="claude/claude-sonnet-4-20250514",
            messages=[{"role": "user", "content": "Hi"}],
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Hello there, friend!"
    assert chunks[-1].usage is not None
    rows = usage_rows(client, app, user_id=user.id)
    assert [(r.provider, r.stream, r.status) for r in rows] == [
        ("claude", False, "ok"),
        ("claude", True, "ok"),
    ]
    assert rows[1].cost_usd > 0  # priced from the seeded list prices


def test_cancelled_stream_is_metered(client, app, fakes, create_user):
    user = create_user("user")

    async def read_one() -> None:
        principal = await app.state.auth_cache.principal_for_user(user.id)
        chunks = app.state.gateway.stream_sse(
            principal,
            {"model": "gpt-4o", "stream": True, "messages": [{"role": "user", "content": "x"}]},
        )
        assert (await anext(chunks)).startswith(b"data: ")
        await chunks.aclose()  # the client went away

    client.portal.call(read_one)
    row = usage_rows(client, app, user_id=user.id)[0]
    assert (row.status, row.status_code) == ("error", 499)
