"""Each adapter against a fake server speaking its provider's wire format."""

import base64
import json
import struct
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, replace
from typing import Any

import anyio
import httpx
import pytest

from atrium.providers.adapters import (
    PROVIDER_TYPES,
    Adapter,
    ProviderTarget,
    UnsupportedOperation,
    UpstreamBlocked,
    UpstreamError,
    UpstreamTimeout,
    get_adapter,
    make_client,
)
from tests.gateway.upstreams import (
    PROMPT_TOKENS,
    AnthropicUpstream,
    CohereUpstream,
    FakeUpstream,
    GeminiUpstream,
    OllamaUpstream,
    OpenAIUpstream,
    ReplicateUpstream,
    fake_vector,
    serve_app,
)

pytestmark = pytest.mark.anyio

FAKE_OF = {
    "openai": "openai",
    "together": "together",
    "vllm": "openai",
    "custom": "openai",
    "anthropic": "anthropic",
    "google": "google",
    "cohere": "cohere",
    "replicate": "replicate",
    "ollama": "ollama",
}
BASE_PATH = {"openai": "/v1", "together": "/v1", "vllm": "/v1", "custom": "/v1", "replicate": "/v1"}
MODEL = {
    "openai": "gpt-4o",
    "together": "meta-llama/Llama-3.3-70B-Instruct-Turbo",
    "vllm": "Qwen/Qwen2.5-7B-Instruct",
    "custom": "my-model",
    "anthropic": "claude-sonnet-4-20250514",
    "google": "gemini-2.5-flash",
    "cohere": "command-a-03-2025",
    "replicate": "meta/meta-llama-3-8b-instruct",
    "ollama": "llama3.2:latest",
}
EMBEDDING_MODEL = {"google": "text-embedding-004", "cohere": "embed-v4.0"}
WITH_EMBEDDINGS = ("openai", "together", "vllm", "custom", "google", "cohere", "ollama")
WITHOUT_EMBEDDINGS = ("anthropic", "replicate")
HELLO = [{"role": "user", "content": "Hi"}]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
def fakes() -> Iterator[dict[str, tuple[FakeUpstream, str]]]:
    upstreams: dict[str, FakeUpstream] = {
        "openai": OpenAIUpstream(),
        "together": OpenAIUpstream(bare_model_list=True),
        "anthropic": AnthropicUpstream(),
        "google": GeminiUpstream(),
        "cohere": CohereUpstream(),
        "replicate": ReplicateUpstream(),
        "ollama": OllamaUpstream(),
    }
    with ExitStack() as stack:
        yield {
            name: (fake, stack.enter_context(serve_app(fake.app)))
            for name, fake in upstreams.items()
        }


@dataclass
class Provider:
    fake: Any  # the FakeUpstream subclass for this type
    target: ProviderTarget
    adapter: Adapter
    model: str

    def body(self, **fields: Any) -> dict[str, Any]:
        return {"model": self.model, "messages": HELLO, **fields}


@pytest.fixture
def provider(fakes: dict[str, tuple[FakeUpstream, str]]) -> Callable[..., Provider]:
    for fake, _base in fakes.values():
        fake.reset()

    def make(provider_type: str, **target_fields: Any) -> Provider:
        fake, base = fakes[FAKE_OF[provider_type]]
        fields = {"timeout": 5.0, "allow_private": True, **target_fields}
        target = ProviderTarget(
            type=provider_type,
            api_base=base + BASE_PATH.get(provider_type, ""),
            api_key=fake.api_key,
            **fields,
        )
        return Provider(fake, target, get_adapter(provider_type), MODEL[provider_type])

    return make


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with make_client() as shared:
        yield shared


async def collect(stream: AsyncIterator[dict[str, Any]]) -> list[dict[str, Any]]:
    return [chunk async for chunk in stream]


def text_of(chunks: list[dict[str, Any]]) -> str:
    return "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])


def finish_reasons(chunks: list[dict[str, Any]]) -> list[str]:
    return [c["choices"][0]["finish_reason"] for c in chunks if c["choices"]]


def usages(chunks: list[dict[str, Any]]) -> list[dict[str, int]]:
    return [c["usage"] for c in chunks if c.get("usage")]


def tool_call_deltas(chunks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        call
        for c in chunks
        if c["choices"]
        for call in c["choices"][0]["delta"].get("tool_calls", [])
    ]


def expected_usage(fake: FakeUpstream) -> dict[str, int]:
    completion = fake.completion_tokens
    return {
        "prompt_tokens": PROMPT_TOKENS,
        "completion_tokens": completion,
        "total_tokens": PROMPT_TOKENS + completion,
    }


# --- every provider type ------------------------------------------------------------


@pytest.mark.parametrize("provider_type", PROVIDER_TYPES)
async def test_chat_answers_in_openai_shape(provider, client, provider_type):
    p = provider(provider_type)
    reply = await p.adapter.chat(client, p.target, p.body(max_tokens=50))
    assert reply["object"] == "chat.completion"
    assert isinstance(reply["id"], str) and isinstance(reply["created"], int)
    assert reply["choices"] == [
        {
            "index": 0,
            "message": {"role": "assistant", "content": p.fake.reply_text},
            "finish_reason": "stop",
        }
    ]
    assert reply["usage"] == expected_usage(p.fake)


@pytest.mark.parametrize("provider_type", PROVIDER_TYPES)
async def test_stream_yields_chunks_in_order_with_usage_last(provider, client, provider_type):
    p = provider(provider_type)
    chunks = await collect(p.adapter.stream_chat(client, p.target, p.body()))
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    contents = [c["choices"][0]["delta"].get("content") for c in chunks if c["choices"]]
    assert [piece for piece in contents if piece] == p.fake.pieces
    assert [r for r in finish_reasons(chunks) if r] == ["stop"]
    assert usages(chunks) == [expected_usage(p.fake)]
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]
    assert len({c["id"] for c in chunks}) == 1


@pytest.mark.parametrize("provider_type", PROVIDER_TYPES)
async def test_stream_without_upstream_usage_has_no_usage_chunk(provider, client, provider_type):
    p = provider(provider_type)
    p.fake.omit_usage()
    chunks = await collect(p.adapter.stream_chat(client, p.target, p.body()))
    assert text_of(chunks) == p.fake.reply_text
    assert usages(chunks) == []


@pytest.mark.parametrize("provider_type", PROVIDER_TYPES)
async def test_chat_without_upstream_usage_says_none(provider, client, provider_type):
    p = provider(provider_type)
    p.fake.omit_usage()
    reply = await p.adapter.chat(client, p.target, p.body())
    assert reply["usage"] is None


@pytest.mark.parametrize("provider_type", PROVIDER_TYPES)
async def test_stream_relays_each_chunk_before_the_upstream_finishes(
    provider, client, provider_type
):
    p = provider(provider_type)
    release = p.fake.hold_after_first_chunk()
    stream = p.adapter.stream_chat(client, p.target, p.body())
    first_text = ""
    with anyio.fail_after(3):  # the fake holds the rest of its answer until released
        async for chunk in stream:
            if first_text := text_of([chunk]):
                break
    release.set()
    rest = await collect(stream)
    assert first_text == p.fake.pieces[0]
    assert first_text + text_of(rest) == p.fake.reply_text
    assert not p.fake.gate_timed_out


@pytest.mark.parametrize("provider_type", PROVIDER_TYPES)
async def test_list_models(provider, client, provider_type):
    p = provider(provider_type)
    assert await p.adapter.list_models(client, p.target) == p.fake.models


@pytest.mark.parametrize("provider_type", PROVIDER_TYPES)
async def test_error_answer_carries_the_providers_message(provider, client, provider_type):
    p = provider(provider_type)
    p.fake.fail_with(429, "Rate limit reached for requests")
    with pytest.raises(UpstreamError) as caught:
        await p.adapter.chat(client, p.target, p.body())
    assert "Rate limit reached for requests" in caught.value.message
    assert "429" in caught.value.message
    assert caught.value.status_code == 502
    assert caught.value.upstream_status == 429


@pytest.mark.parametrize("provider_type", PROVIDER_TYPES)
async def test_stream_error_before_the_first_chunk_raises(provider, client, provider_type):
    p = provider(provider_type)
    p.fake.fail_with(503, "The server is overloaded")
    stream = p.adapter.stream_chat(client, p.target, p.body())
    with pytest.raises(UpstreamError, match="The server is overloaded"):
        await anext(stream)


@pytest.mark.parametrize("provider_type", PROVIDER_TYPES)
async def test_wrong_api_key_is_reported(provider, client, provider_type):
    p = provider(provider_type)
    target = replace(p.target, api_key="wrong-key")
    p.fake.api_key = p.fake.api_key or "required-key"
    with pytest.raises(UpstreamError) as caught:
        await p.adapter.list_models(client, target)
    assert caught.value.upstream_status in (400, 401)


@pytest.mark.parametrize("provider_type", PROVIDER_TYPES)
@pytest.mark.parametrize("streaming", [False, True])
async def test_slow_upstream_times_out(provider, client, provider_type, streaming):
    p = provider(provider_type, timeout=0.2)
    p.fake.slow(1.0)
    with pytest.raises(UpstreamTimeout) as caught:
        if streaming:
            await collect(p.adapter.stream_chat(client, p.target, p.body()))
        else:
            await p.adapter.chat(client, p.target, p.body())
    assert caught.value.status_code == 504


@pytest.mark.parametrize("provider_type", WITH_EMBEDDINGS)
async def test_embeddings(provider, client, provider_type):
    p = provider(provider_type)
    model = EMBEDDING_MODEL.get(provider_type, "text-embedding-3-small")
    reply = await p.adapter.embeddings(
        client, p.target, {"model": model, "input": ["first text", "second"]}
    )
    assert reply["object"] == "list"
    assert [item["embedding"] for item in reply["data"]] == [
        fake_vector("first text"),
        fake_vector("second"),
    ]
    assert [item["index"] for item in reply["data"]] == [0, 1]
    if provider_type != "google":  # the Gemini API reports no token counts for embeddings
        assert reply["usage"] == {"prompt_tokens": 4, "total_tokens": 4}


@pytest.mark.parametrize("provider_type", ["google", "cohere", "ollama"])
async def test_embeddings_in_base64_when_asked(provider, client, provider_type):
    p = provider(provider_type)
    body = {"model": EMBEDDING_MODEL.get(provider_type, "nomic"), "input": "abc"}
    reply = await p.adapter.embeddings(client, p.target, {**body, "encoding_format": "base64"})
    raw = base64.b64decode(reply["data"][0]["embedding"])
    assert list(struct.unpack("<3f", raw)) == fake_vector("abc")


@pytest.mark.parametrize("provider_type", WITHOUT_EMBEDDINGS)
async def test_embeddings_unsupported(provider, client, provider_type):
    p = provider(provider_type)
    with pytest.raises(UnsupportedOperation) as caught:
        await p.adapter.embeddings(client, p.target, {"model": p.model, "input": "x"})
    assert caught.value.status_code == 400


# --- the shared transport: SSRF guard, connection failures, redirects ----------------


async def test_guard_refuses_a_loopback_provider_before_connecting(provider, client):
    p = provider("openai", allow_private=False)
    with pytest.raises(UpstreamBlocked, match=r"127\.0\.0\.1.*not a public"):
        await p.adapter.chat(client, p.target, p.body())
    with pytest.raises(UpstreamBlocked):
        await anext(p.adapter.stream_chat(client, p.target, p.body()))
    assert p.fake.requests == []


async def test_guard_refuses_localhost_by_name(provider, client):
    p = provider("ollama", allow_private=False)
    port = httpx.URL(p.target.api_base).port
    target = replace(p.target, api_base=f"http://localhost:{port}")
    with pytest.raises(UpstreamBlocked, match="localhost resolves to"):
        await p.adapter.list_models(client, target)
    assert p.fake.requests == []


async def test_refused_connection_names_the_host(client):
    with anyio.fail_after(5):
        free_port = await _unused_port()
    target = ProviderTarget(
        type="openai", api_base=f"http://127.0.0.1:{free_port}/v1", api_key=None, allow_private=True
    )
    with pytest.raises(UpstreamError, match=r"could not connect to 127\.0\.0\.1") as caught:
        await get_adapter("openai").list_models(client, target)
    assert caught.value.status_code == 502


async def _unused_port() -> int:
    listener = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=0)
    port = listener.extra(anyio.abc.SocketAttribute.local_port)
    await listener.aclose()
    return port


async def test_redirects_are_not_followed(provider, client):
    p = provider("openai")
    p.fake.redirect_to("http://169.254.169.254/latest/meta-data")
    with pytest.raises(UpstreamError, match="redirect") as caught:
        await p.adapter.list_models(client, p.target)
    assert caught.value.upstream_status == 307
    assert len(p.fake.requests) == 1


async def test_custom_headers_reach_the_provider(provider, client):
    p = provider("anthropic", headers={"X-Team": "research"})
    await p.adapter.chat(client, p.target, p.body())
    assert p.fake.last.headers["x-team"] == "research"


async def test_unreadable_reply_is_an_upstream_error(client):
    async def not_json(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"<html>proxy page</html>"})

    with serve_app(not_json) as base:
        target = ProviderTarget(type="vllm", api_base=base, api_key=None, allow_private=True)
        with pytest.raises(UpstreamError, match="not JSON"):
            await get_adapter("vllm").list_models(client, target)


# --- OpenAI-compatible --------------------------------------------------------------


async def test_openai_request_passes_through_with_bearer_key(provider, client):
    p = provider("openai")
    tools = [{"type": "function", "function": {"name": "lookup", "parameters": {}}}]
    body = p.body(temperature=0.3, top_p=0.9, stop=["END"], tools=tools, stream=False)
    await p.adapter.chat(client, p.target, body)
    sent = p.fake.last
    assert sent.path == "/v1/chat/completions"
    assert sent.headers["authorization"] == "Bearer test-key"
    assert sent.json == {k: v for k, v in body.items() if k != "stream"}


async def test_openai_stream_asks_upstream_for_usage(provider, client):
    p = provider("vllm")
    body = p.body(stream_options={"include_usage": False, "continuous_usage_stats": False})
    await collect(p.adapter.stream_chat(client, p.target, body))
    sent = p.fake.last.json
    assert sent["stream"] is True
    assert sent["stream_options"] == {"include_usage": True, "continuous_usage_stats": False}


async def test_openai_tool_calls_pass_through(provider, client):
    p = provider("custom")
    p.fake.reply_with_tool_call("lookup", {"city": "Oslo"})
    reply = await p.adapter.chat(client, p.target, p.body())
    choice = reply["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"]["tool_calls"][0]["function"] == {
        "name": "lookup",
        "arguments": '{"city": "Oslo"}',
    }


async def test_openai_error_inside_a_stream_raises(client):
    async def events() -> AsyncIterator[bytes]:
        chunk = {"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m"}
        chunk["choices"] = [{"index": 0, "delta": {"content": "Hi"}, "finish_reason": None}]
        yield f"data: {json.dumps(chunk)}\n\n".encode()
        yield b'data: {"error": {"message": "model crashed", "type": "server_error"}}\n\n'

    async def app(scope: Any, receive: Any, send: Any) -> None:
        headers = [(b"content-type", b"text/event-stream")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        async for part in events():
            await send({"type": "http.response.body", "body": part, "more_body": True})
        await send({"type": "http.response.body", "body": b""})

    with serve_app(app) as base:
        target = ProviderTarget(type="custom", api_base=base, api_key=None, allow_private=True)
        stream = get_adapter("custom").stream_chat(
            client, target, {"model": "m", "messages": HELLO}
        )
        first = await anext(stream)
        assert first["choices"][0]["delta"]["content"] == "Hi"
        with pytest.raises(UpstreamError, match="model crashed"):
            await anext(stream)


# --- Anthropic ----------------------------------------------------------------------

PIXEL = "iVBORw0KGgo="
CONVERSATION = [
    {"role": "system", "content": "Be brief."},
    {
        "role": "user",
        "content": [
            {"type": "text", "text": "What is this?"},
            {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PIXEL}"}},
        ],
    },
    {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {
                "id": "call_1",
                "type": "function",
                "function": {"name": "lookup", "arguments": '{"q": "png"}'},
            }
        ],
    },
    {"role": "tool", "tool_call_id": "call_1", "content": '{"answer": "an image"}'},
]
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "lookup",
            "description": "Look something up",
            "parameters": {"type": "object", "properties": {"q": {"type": "string"}}},
        },
    }
]


async def test_anthropic_request_translation(provider, client):
    p = provider("anthropic")
    body = {
        "model": p.model,
        "messages": CONVERSATION,
        "temperature": 0.2,
        "stop": "STOP",
        "tools": TOOLS,
        "tool_choice": "required",
    }
    await p.adapter.chat(client, p.target, body)
    sent = p.fake.last
    assert sent.path == "/v1/messages"
    assert sent.headers["x-api-key"] == "test-key"
    assert sent.headers["anthropic-version"] == "2023-06-01"
    assert sent.json == {
        "model": p.model,
        "max_tokens": 1024,
        "system": "Be brief.",
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "What is this?"},
                    {
                        "type": "image",
                        "source": {"type": "base64", "media_type": "image/png", "data": PIXEL},
                    },
                ],
            },
            {
                "role": "assistant",
                "content": [
                    {"type": "tool_use", "id": "call_1", "name": "lookup", "input": {"q": "png"}}
                ],
            },
            {
                "role": "user",
                "content": [
                    {
                        "type": "tool_result",
                        "tool_use_id": "call_1",
                        "content": '{"answer": "an image"}',
                    }
                ],
            },
        ],
        "temperature": 0.2,
        "stop_sequences": ["STOP"],
        "tools": [
            {
                "name": "lookup",
                "input_schema": TOOLS[0]["function"]["parameters"],
                "description": "Look something up",
            }
        ],
        "tool_choice": {"type": "any"},
    }


async def test_anthropic_max_tokens_from_the_request(provider, client):
    p = provider("anthropic")
    await p.adapter.chat(client, p.target, p.body(max_completion_tokens=77))
    assert p.fake.last.json["max_tokens"] == 77


async def test_anthropic_tool_use_becomes_tool_calls(provider, client):
    p = provider("anthropic")
    p.fake.reply_with_tool_call("lookup", {"q": "weather"})
    reply = await p.adapter.chat(client, p.target, p.body(tools=TOOLS))
    choice = reply["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"]["content"] == "Let me check."
    call = choice["message"]["tool_calls"][0]
    assert call["id"] == "toolu_01" and call["type"] == "function"
    assert call["function"]["name"] == "lookup"
    assert json.loads(call["function"]["arguments"]) == {"q": "weather"}


async def test_anthropic_streamed_tool_use(provider, client):
    p = provider("anthropic")
    p.fake.reply_with_tool_call("lookup", {"q": "weather", "days": 3})
    chunks = await collect(p.adapter.stream_chat(client, p.target, p.body(tools=TOOLS)))
    deltas = tool_call_deltas(chunks)
    assert deltas[0]["id"] == "toolu_01" and deltas[0]["function"]["name"] == "lookup"
    assert all(d["index"] == 0 for d in deltas)
    arguments = "".join(d["function"]["arguments"] for d in deltas)
    assert json.loads(arguments) == {"q": "weather", "days": 3}
    assert [r for r in finish_reasons(chunks) if r] == ["tool_calls"]


async def test_anthropic_accepts_a_base_that_ends_in_v1(provider, client):
    p = provider("anthropic")
    target = replace(p.target, api_base=p.target.api_base + "/v1/")
    await p.adapter.chat(client, target, p.body())
    assert p.fake.last.path == "/v1/messages"


async def test_anthropic_model_list_follows_pages(provider, client):
    p = provider("anthropic")
    p.fake.page_size = 2
    assert await p.adapter.list_models(client, p.target) == p.fake.models
    assert [r.query.get("after_id") for r in p.fake.requests] == [None, p.fake.models[1]]


# --- Google Gemini ------------------------------------------------------------------


async def test_gemini_request_translation(provider, client):
    p = provider("google")
    body = {
        "model": p.model,
        "messages": CONVERSATION,
        "temperature": 0.5,
        "top_p": 0.8,
        "max_tokens": 64,
        "stop": ["END"],
        "tools": TOOLS,
        "tool_choice": {"type": "function", "function": {"name": "lookup"}},
    }
    await p.adapter.chat(client, p.target, body)
    sent = p.fake.last
    assert sent.path == "/v1beta/models/gemini-2.5-flash:generateContent"
    assert sent.headers["x-goog-api-key"] == "test-key"
    assert sent.json == {
        "contents": [
            {
                "role": "user",
                "parts": [
                    {"text": "What is this?"},
                    {"inlineData": {"mimeType": "image/png", "data": PIXEL}},
                ],
            },
            {
                "role": "model",
                "parts": [{"functionCall": {"name": "lookup", "args": {"q": "png"}}}],
            },
            {
                "role": "user",
                "parts": [
                    {"functionResponse": {"name": "lookup", "response": {"answer": "an image"}}}
                ],
            },
        ],
        "systemInstruction": {"parts": [{"text": "Be brief."}]},
        "generationConfig": {
            "temperature": 0.5,
            "topP": 0.8,
            "maxOutputTokens": 64,
            "stopSequences": ["END"],
        },
        "tools": [
            {
                "functionDeclarations": [
                    {
                        "name": "lookup",
                        "description": "Look something up",
                        "parameters": TOOLS[0]["function"]["parameters"],
                    }
                ]
            }
        ],
        "toolConfig": {
            "functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["lookup"]}
        },
    }


async def test_gemini_streams_over_sse(provider, client):
    p = provider("google")
    await collect(p.adapter.stream_chat(client, p.target, p.body()))
    assert p.fake.last.path == "/v1beta/models/gemini-2.5-flash:streamGenerateContent"
    assert p.fake.last.query == {"alt": "sse"}


async def test_gemini_function_call_becomes_tool_call(provider, client):
    p = provider("google")
    p.fake.reply_with_tool_call("lookup", {"q": "rain"})
    reply = await p.adapter.chat(client, p.target, p.body(tools=TOOLS))
    choice = reply["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"]["content"] is None
    function = choice["message"]["tool_calls"][0]["function"]
    assert function["name"] == "lookup" and json.loads(function["arguments"]) == {"q": "rain"}

    chunks = await collect(p.adapter.stream_chat(client, p.target, p.body(tools=TOOLS)))
    assert tool_call_deltas(chunks)[0]["function"]["name"] == "lookup"
    assert [r for r in finish_reasons(chunks) if r] == ["tool_calls"]


async def test_gemini_embeddings_request(provider, client):
    p = provider("google")
    body = {"model": "text-embedding-004", "input": "hello", "dimensions": 3}
    await p.adapter.embeddings(client, p.target, body)
    assert p.fake.last.path == "/v1beta/models/text-embedding-004:batchEmbedContents"
    assert p.fake.last.json == {
        "requests": [
            {
                "model": "models/text-embedding-004",
                "content": {"parts": [{"text": "hello"}]},
                "outputDimensionality": 3,
            }
        ]
    }


async def test_gemini_model_list_follows_pages(provider, client):
    p = provider("google")
    p.fake.page_size = 2
    assert await p.adapter.list_models(client, p.target) == p.fake.models
    assert len(p.fake.requests) == 2


# --- Cohere -------------------------------------------------------------------------


async def test_cohere_request_translation(provider, client):
    p = provider("cohere")
    body = {
        "model": p.model,
        "messages": [*CONVERSATION[:1], {"role": "user", "content": "Hello"}],
        "temperature": 0.4,
        "top_p": 0.7,
        "max_tokens": 30,
        "stop": "END",
        "tools": TOOLS,
        "tool_choice": "required",
    }
    await p.adapter.chat(client, p.target, body)
    sent = p.fake.last
    assert sent.path == "/v2/chat"
    assert sent.headers["authorization"] == "Bearer test-key"
    assert sent.json == {
        "model": p.model,
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Hello"},
        ],
        "temperature": 0.4,
        "p": 0.7,
        "max_tokens": 30,
        "stop_sequences": ["END"],
        "tools": TOOLS,
        "tool_choice": "REQUIRED",
    }


async def test_cohere_usage_counts_billed_units(provider, client):
    p = provider("cohere")
    reply = await p.adapter.chat(client, p.target, p.body())
    assert reply["usage"]["prompt_tokens"] == PROMPT_TOKENS  # billed, not the raw 61


async def test_cohere_tool_calls(provider, client):
    p = provider("cohere")
    p.fake.reply_with_tool_call("lookup", {"q": "x"})
    reply = await p.adapter.chat(client, p.target, p.body(tools=TOOLS))
    assert reply["choices"][0]["finish_reason"] == "tool_calls"
    assert reply["choices"][0]["message"]["tool_calls"][0]["function"] == {
        "name": "lookup",
        "arguments": '{"q": "x"}',
    }
    chunks = await collect(p.adapter.stream_chat(client, p.target, p.body(tools=TOOLS)))
    deltas = tool_call_deltas(chunks)
    assert deltas[0]["id"] == "call_c1"
    assert json.loads("".join(d["function"]["arguments"] for d in deltas)) == {"q": "x"}
    assert [r for r in finish_reasons(chunks) if r] == ["tool_calls"]


async def test_cohere_embed_request(provider, client):
    p = provider("cohere")
    await p.adapter.embeddings(client, p.target, {"model": "embed-v4.0", "input": "hi"})
    assert p.fake.last.path == "/v2/embed"
    assert p.fake.last.json == {
        "model": "embed-v4.0",
        "texts": ["hi"],
        "input_type": "search_document",
        "embedding_types": ["float"],
    }


# --- Replicate ----------------------------------------------------------------------


async def test_replicate_prediction_request(provider, client):
    p = provider("replicate")
    messages = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello!"},
        {"role": "user", "content": "How are you?"},
    ]
    body = {"model": p.model, "messages": messages, "max_tokens": 20, "temperature": 0.1}
    await p.adapter.chat(client, p.target, {**body, "stop": ["\n\n", "User:"]})
    sent = p.fake.requests[0]
    assert sent.path == "/v1/models/meta/meta-llama-3-8b-instruct/predictions"
    assert sent.headers["prefer"] == "wait=5"
    assert sent.headers["authorization"] == "Bearer test-key"
    assert sent.json == {
        "input": {
            "prompt": "User: Hi\n\nAssistant: Hello!\n\nUser: How are you?\n\nAssistant:",
            "system_prompt": "Be brief.",
            "temperature": 0.1,
            "max_tokens": 20,
            "stop_sequences": "\n\n,User:",
        }
    }


async def test_replicate_polls_a_prediction_until_it_succeeds(provider, client):
    p = provider("replicate")
    p.fake.polls_before_done = 1
    reply = await p.adapter.chat(client, p.target, p.body())
    assert reply["choices"][0]["message"]["content"] == p.fake.reply_text
    assert [r.method for r in p.fake.requests] == ["POST", "GET", "GET"]


async def test_replicate_gives_up_and_cancels_after_the_timeout(provider, client):
    p = provider("replicate", timeout=0.5)
    p.fake.polls_before_done = 1000
    with pytest.raises(UpstreamTimeout):
        await p.adapter.chat(client, p.target, p.body())
    assert p.fake.last.path.endswith("/cancel")


async def test_replicate_failed_prediction(provider, client):
    p = provider("replicate")
    p.fake.fail_prediction("CUDA out of memory")
    with pytest.raises(UpstreamError, match="CUDA out of memory"):
        await p.adapter.chat(client, p.target, p.body())
    with pytest.raises(UpstreamError, match="CUDA out of memory"):
        await collect(p.adapter.stream_chat(client, p.target, p.body()))


async def test_replicate_versioned_model(provider, client):
    p = provider("replicate")
    await p.adapter.chat(client, p.target, p.body(model="acme/llm:5c7d5dc6dd8bf75c1acaa8565735e7"))
    assert p.fake.requests[0].path == "/v1/predictions"
    assert p.fake.requests[0].json["version"] == "5c7d5dc6dd8bf75c1acaa8565735e7"


async def test_replicate_stream_reads_the_prediction_stream(provider, client):
    p = provider("replicate")
    p.fake.reply_text = "line one\nline two"
    chunks = await collect(p.adapter.stream_chat(client, p.target, p.body()))
    assert text_of(chunks) == "line one\nline two"
    create, stream = p.fake.requests[0], p.fake.requests[1]
    assert create.json["stream"] is True and "prefer" not in create.headers
    assert stream.path.startswith("/v1/stream/")
    assert stream.headers["accept"] == "text/event-stream"


async def test_replicate_model_without_stream_url_answers_in_one_chunk(provider, client):
    p = provider("replicate")
    p.fake.can_stream = False
    chunks = await collect(p.adapter.stream_chat(client, p.target, p.body()))
    assert text_of(chunks) == p.fake.reply_text
    assert usages(chunks) == [expected_usage(p.fake)]


# --- Ollama -------------------------------------------------------------------------


async def test_ollama_request_translation(provider, client):
    p = provider("ollama")
    messages = [
        {"role": "system", "content": "Be brief."},
        CONVERSATION[1],
        CONVERSATION[2],
        CONVERSATION[3],
    ]
    body = {"model": p.model, "messages": messages, "max_tokens": 40, "temperature": 0}
    await p.adapter.chat(client, p.target, {**body, "stop": ["END"], "tools": TOOLS})
    sent = p.fake.last
    assert sent.path == "/api/chat"
    assert "authorization" not in sent.headers
    assert sent.json == {
        "model": p.model,
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "What is this?", "images": [PIXEL]},
            {
                "role": "assistant",
                "content": "",
                "tool_calls": [{"function": {"name": "lookup", "arguments": {"q": "png"}}}],
            },
            {"role": "tool", "content": '{"answer": "an image"}', "tool_name": "lookup"},
        ],
        "stream": False,
        "options": {"temperature": 0, "num_predict": 40, "stop": ["END"]},
        "tools": TOOLS,
    }


async def test_ollama_unknown_model_message(provider, client):
    p = provider("ollama")
    with pytest.raises(UpstreamError, match='model "nope" not found, try pulling it first'):
        await p.adapter.chat(client, p.target, p.body(model="nope"))


async def test_ollama_tool_calls(provider, client):
    p = provider("ollama")
    p.fake.reply_with_tool_call("lookup", {"q": "z"})
    reply = await p.adapter.chat(client, p.target, p.body(tools=TOOLS))
    assert reply["choices"][0]["finish_reason"] == "tool_calls"
    function = reply["choices"][0]["message"]["tool_calls"][0]["function"]
    assert function == {"name": "lookup", "arguments": '{"q": "z"}'}
    chunks = await collect(p.adapter.stream_chat(client, p.target, p.body(tools=TOOLS)))
    assert tool_call_deltas(chunks)[0]["function"]["name"] == "lookup"


async def test_ollama_refuses_remote_image_urls(provider, client):
    p = provider("ollama")
    content = [{"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}}]
    body = p.body(messages=[{"role": "user", "content": content}])
    with pytest.raises(UnsupportedOperation, match="data: URLs"):
        await p.adapter.chat(client, p.target, body)
    assert p.fake.requests == []
