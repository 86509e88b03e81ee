"""A long stream is written while it streams, then overwritten by its end: one usage record,
one reply, and roll-ups that equal the records."""

from collections.abc import Iterator

import pytest

from tests.gateway.helpers import add_provider, usage_rows
from tests.gateway.upstreams import OpenAIUpstream, serve_app

CONVERSATIONS = "/api/v1/conversations"
REPLY = "alpha beta gamma delta epsilon zeta eta theta"


@pytest.fixture(scope="module")
def settings_overrides() -> dict[str, object]:
    return {"usage_flush_seconds": 0.1}


@pytest.fixture(scope="module")
def upstream() -> Iterator[tuple[OpenAIUpstream, str]]:
    fake = OpenAIUpstream()
    with serve_app(fake.app) as base:
        yield fake, base


@pytest.fixture(scope="module")
def provider(client, upstream, module_admin) -> None:
    add_provider(client, module_admin.headers, upstream[1], name="fake", type="openai")


@pytest.fixture
def fake(upstream, provider) -> OpenAIUpstream:
    upstream[0].reset()
    upstream[0].reply_text = REPLY
    upstream[0].drip(0.15)  # about 1.2 s: several interim writes
    return upstream[0]


def overview(client, headers) -> dict:
    return client.get("/api/v1/llm/usage/overview", headers=headers).json()


def test_v1_stream_written_while_streaming_ends_as_one_ok_record(client, app, fake, create_user):
    user = create_user()
    body = {"model": "gpt-4o", "stream": True, "messages": [{"role": "user", "content": "go"}]}
    response = client.post("/v1/chat/completions", json=body, headers=user.headers)
    assert response.text.rstrip().endswith("data: [DONE]")
    (row,) = usage_rows(client, app, user_id=user.id)
    assert (row.status, row.status_code, row.error) == ("ok", 200, None)
    assert row.completion_tokens == fake.completion_tokens and not row.estimated
    totals = overview(client, user.headers)
    assert totals["total_calls"] == 1 and totals["error_rate"] == 0
    assert totals["output_tokens"] == fake.completion_tokens


def test_workspace_reply_written_while_streaming_is_stored_once(client, app, fake, create_user):
    owner = create_user()
    created = client.post(CONVERSATIONS, json={}, headers=owner.headers).json()
    response = client.post(
        f"{CONVERSATIONS}/{created['id']}/messages",
        json={"content": "Greek letters", "stream": True},
        headers=owner.headers,
    )
    assert '"incomplete": false' in response.text.split("event: message")[-1]
    detail = client.get(f"{CONVERSATIONS}/{created['id']}", headers=owner.headers).json()
    assert [m["role"] for m in detail["messages"]] == ["user", "assistant"]
    assert detail["messages"][1]["content"] == REPLY
    assert detail["messages"][1]["incomplete"] is False
    (row,) = usage_rows(client, app, user_id=owner.id)
    assert row.status == "ok"
    assert overview(client, owner.headers)["total_calls"] == 1
