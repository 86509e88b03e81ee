"""A stream that fails after its first byte: `/v1` ends with an error event and no `[DONE]`,
the workspace stream with `event: error` and the partial reply stored incomplete; both are
metered with what was streamed."""

import json
from collections.abc import Iterator

import openai
import pytest

from tests.gateway.helpers import add_provider, usage_rows
from tests.gateway.upstreams import OpenAIUpstream, serve_app

CONVERSATIONS = "/api/v1/conversations"
REPLY = "one two three four five six seven eight"


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
    upstream[0].break_after(3)
    return upstream[0]


def data_lines(text: str) -> list[str]:
    return [line[6:] for line in text.split("\n") if line.startswith("data: ")]


def test_v1_stream_broken_after_first_byte(client, app, fake, create_user):
    user = create_user()
    body = {"model": "gpt-4o", "stream": True, "messages": [{"role": "user", "content": "go"}]}
    response = client.post("/v1/chat/completions", json=body, headers=user.headers)
    assert response.status_code == 200  # the status went out with the first byte
    lines = data_lines(response.text)
    assert "[DONE]" not in lines
    error = json.loads(lines[-1])["error"]
    assert error["code"] and error["message"]
    pieces = [json.loads(line)["choices"][0]["delta"].get("content") for line in lines[:-1]]
    assert "".join(p or "" for p in pieces) == "one two three"
    (row,) = usage_rows(client, app, user_id=user.id)
    assert row.status == "error" and row.status_code == 502
    assert row.completion_tokens > 0 and row.estimated


def test_sdk_raises_on_a_broken_stream(client, fake, create_user):
    user = create_user()
    sdk = openai.OpenAI(
        api_key=user.token, base_url="http://testserver/v1", http_client=client, max_retries=0
    )
    stream = sdk.chat.completions.create(
        model="gpt-4o", messages=[{"role": "user", "content": "go"}], stream=True
    )
    with pytest.raises(openai.APIError):
        for _chunk in stream:
            pass


def test_workspace_stream_broken_after_first_byte(client, app, fake, create_user):
    owner = create_user()
    created = client.post(CONVERSATIONS, json={}, headers=owner.headers).json()
    response = client.post(
        f"{CONVERSATIONS}/{created['id']}/messages",
        json={"content": "Count", "stream": True},
        headers=owner.headers,
    )
    assert response.status_code == 200
    blocks = [block.split("\n") for block in response.text.strip().split("\n\n")]
    names = [lines[0].removeprefix("event: ") for lines in blocks]
    assert names == ["delta", "delta", "delta", "error"]
    error = json.loads(blocks[-1][1].removeprefix("data: "))
    assert error["code"] and error["detail"]
    messages = client.get(f"{CONVERSATIONS}/{created['id']}", headers=owner.headers).json()
    reply = messages["messages"][-1]
    assert reply["role"] == "assistant" and reply["content"] == "one two three"
    assert reply["incomplete"] is True
    (row,) = usage_rows(client, app, user_id=owner.id)
    assert row.status == "error" and row.completion_tokens > 0
