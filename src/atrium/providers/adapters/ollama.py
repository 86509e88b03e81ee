"""Ollama's native API: POST /api/chat (JSON or NDJSON stream), GET /api/tags, POST /api/embed."""

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx

from atrium.outbound.http import (
    api_root,
    bearer,
    expect_object,
    iter_ndjson,
    open_stream,
    raise_stream_error,
    send,
)
from atrium.providers.adapters import shapes
from atrium.providers.adapters.base import ProviderTarget, UnsupportedOperation, UpstreamError

FINISH_REASONS = {"stop": "stop", "length": "length"}
OPTIONS = ("temperature", "top_p", "top_k", "seed", "frequency_penalty", "presence_penalty")


def _url(target: ProviderTarget, path: str) -> str:
    return api_root(target.api_base, "/api", "/v1") + path


# --- request --------------------------------------------------------------------------


def chat_request(body: dict[str, Any], *, stream: bool) -> dict[str, Any]:
    """An OpenAI chat request as an Ollama /api/chat request."""
    messages = body.get("messages") or []
    names = shapes.tool_names_by_call_id(messages)
    request: dict[str, Any] = {
        "model": body.get("model"),
        "messages": [_message(m, names) for m in messages],
        "stream": stream,
    }
    options = {name: body[name] for name in OPTIONS if body.get(name) is not None}
    if max_tokens := shapes.max_tokens_of(body):
        options["num_predict"] = max_tokens
    if stop := shapes.stop_list(body.get("stop")):
        options["stop"] = stop
    if options:
        request["options"] = options
    if tools := shapes.function_tools(body):
        request["tools"] = [{"type": "function", "function": function} for function in tools]
    if response_format := _format(body.get("response_format")):
        request["format"] = response_format
    return request


def _format(response_format: Any) -> Any:
    if not isinstance(response_format, dict):
        return None
    if response_format.get("type") == "json_object":
        return "json"
    if response_format.get("type") == "json_schema":
        return (response_format.get("json_schema") or {}).get("schema") or "json"
    return None


def _message(message: dict[str, Any], names: dict[str, str]) -> dict[str, Any]:
    role, content = message.get("role"), message.get("content")
    converted: dict[str, Any] = {
        "role": "system" if shapes.is_system(message) else role,
        "content": shapes.text_of(content),
    }
    if images := _images(content):
        converted["images"] = images
    if calls := message.get("tool_calls"):
        converted["tool_calls"] = [_native_call(call) for call in calls]
    if role == "tool" and (name := names.get(message.get("tool_call_id", ""))):
        converted["tool_name"] = name
    return converted


def _images(content: Any) -> list[str]:
    """Ollama takes images as bare base64 strings."""
    images = []
    for part in shapes.content_parts(content) if isinstance(content, list) else []:
        url = shapes.image_url_of(part)
        if url is None:
            continue
        data = shapes.parse_data_url(url)
        if data is None:
            raise UnsupportedOperation("ollama takes images only as data: URLs (base64)")
        images.append(data[1])
    return images


def _native_call(call: dict[str, Any]) -> dict[str, Any]:
    function = call.get("function") or {}
    arguments = shapes.arguments_object(function.get("arguments"))
    return {"function": {"name": function.get("name"), "arguments": arguments}}


# --- answers --------------------------------------------------------------------------


def _openai_calls(message: dict[str, Any]) -> list[dict[str, Any]]:
    functions = [c.get("function") or {} for c in message.get("tool_calls") or []]
    return [
        shapes.tool_call(shapes.new_id("call"), f.get("name", ""), f.get("arguments") or {})
        for f in functions
    ]


def _usage(reply: dict[str, Any]) -> dict[str, int] | None:
    return shapes.usage(reply.get("prompt_eval_count"), reply.get("eval_count"))


def _finish_reason(reply: dict[str, Any], has_calls: bool) -> str:
    return "tool_calls" if has_calls else FINISH_REASONS.get(reply.get("done_reason"), "stop")


def _completion(reply: Any, target: ProviderTarget, model: str) -> dict[str, Any]:
    reply = expect_object(reply, target, "chat reply")
    message = reply.get("message") or {}
    calls = _openai_calls(message)
    text = message.get("content") or ""
    return shapes.completion(
        model=reply.get("model") or model,
        content=text if text or not calls else None,
        finish_reason=_finish_reason(reply, bool(calls)),
        usage=_usage(reply),
        tool_calls=calls or None,
    )


@dataclass(slots=True)
class _StreamTranslator:
    chunks: shapes.ChunkBuilder
    started: bool = False
    tool_calls: int = 0

    def feed(self, line: dict[str, Any]) -> list[dict[str, Any]]:
        out = [] if self.started else [self.chunks.role()]
        self.started = True
        message = line.get("message") or {}
        if message.get("content"):
            out.append(self.chunks.text(message["content"]))
        for call in _openai_calls(message):
            out.append(self.chunks.delta(tool_calls=[{**call, "index": self.tool_calls}]))
            self.tool_calls += 1
        if line.get("done"):
            out.append(self.chunks.finish(_finish_reason(line, self.tool_calls > 0)))
            if usage := _usage(line):
                out.append(self.chunks.usage(usage))
        return out


class OllamaAdapter:
    async def chat(
        self, client: httpx.AsyncClient, target: ProviderTarget, body: dict[str, Any]
    ) -> dict[str, Any]:
        reply = await send(
            client,
            target,
            "POST",
            _url(target, "/api/chat"),
            json=chat_request(body, stream=False),
            headers=bearer(target),
        )
        return _completion(reply, target, body.get("model", ""))

    async def stream_chat(
        self, client: httpx.AsyncClient, target: ProviderTarget, body: dict[str, Any]
    ) -> AsyncIterator[dict[str, Any]]:
        translator = _StreamTranslator(shapes.ChunkBuilder(body.get("model", "")))
        request = chat_request(body, stream=True)
        async with open_stream(
            client, target, "POST", _url(target, "/api/chat"), json=request, headers=bearer(target)
        ) as response:
            async for line in iter_ndjson(response, target):
                if not isinstance(line, dict) or "error" in line:
                    raise_stream_error(target, line)
                for chunk in translator.feed(line):
                    yield chunk
                if line.get("done"):
                    return
        raise UpstreamError(f"{target.type} provider closed the stream before it was done")

    async def list_models(self, client: httpx.AsyncClient, target: ProviderTarget) -> list[str]:
        reply = await send(client, target, "GET", _url(target, "/api/tags"), headers=bearer(target))
        models = expect_object(reply, target, "model list").get("models") or []
        return [m.get("name") or m["model"] for m in models if m.get("name") or m.get("model")]

    async def embeddings(
        self, client: httpx.AsyncClient, target: ProviderTarget, body: dict[str, Any]
    ) -> dict[str, Any]:
        request: dict[str, Any] = {
            "model": body.get("model"),
            "input": shapes.embedding_inputs(body, target.type),
        }
        if body.get("dimensions"):
            request["dimensions"] = body["dimensions"]
        reply = await send(
            client, target, "POST", _url(target, "/api/embed"), json=request, headers=bearer(target)
        )
        reply = expect_object(reply, target, "embeddings reply")
        vectors = reply.get("embeddings")
        if not isinstance(vectors, list):
            raise UpstreamError(f"{target.type} provider sent an unexpected embeddings reply")
        usage = shapes.embedding_usage(reply.get("prompt_eval_count"))
        return shapes.embedding_list(
            body.get("model", ""), vectors, usage, body.get("encoding_format")
        )
