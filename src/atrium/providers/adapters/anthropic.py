"""Anthropic Messages API: POST /v1/messages (JSON and SSE), GET /v1/models."""

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx

from atrium.outbound.http import (
    api_root,
    collect_pages,
    expect_object,
    iter_sse,
    open_stream,
    parse_json,
    raise_stream_error,
    send,
)
from atrium.providers.adapters import shapes
from atrium.providers.adapters.base import ProviderTarget, UnsupportedOperation, UpstreamError

ANTHROPIC_VERSION = "2023-06-01"
DEFAULT_MAX_TOKENS = 1024
FINISH_REASONS = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}


def _url(target: ProviderTarget, path: str) -> str:
    return f"{api_root(target.api_base, '/v1')}/v1{path}"


def _headers(target: ProviderTarget) -> dict[str, str]:
    headers = {"anthropic-version": ANTHROPIC_VERSION}
    if target.api_key:
        headers["x-api-key"] = target.api_key
    return headers


# --- request --------------------------------------------------------------------------


def messages_request(body: dict[str, Any]) -> dict[str, Any]:
    """An OpenAI chat request as an Anthropic Messages request."""
    messages = body.get("messages") or []
    request: dict[str, Any] = {
        "model": body.get("model"),
        "max_tokens": shapes.max_tokens_of(body) or DEFAULT_MAX_TOKENS,
        "messages": [_message(m) for m in messages if not shapes.is_system(m)],
    }
    if system := shapes.system_text(messages):
        request["system"] = system
    for name in ("temperature", "top_p", "top_k"):
        if body.get(name) is not None:
            request[name] = body[name]
    if stop := shapes.stop_list(body.get("stop")):
        request["stop_sequences"] = stop
    if tools := shapes.function_tools(body):
        request["tools"] = [_tool(function) for function in tools]
    if (choice := _tool_choice(body.get("tool_choice"))) is not None:
        request["tool_choice"] = choice
    if body.get("user"):
        request["metadata"] = {"user_id": str(body["user"])}
    return request


def _message(message: dict[str, Any]) -> dict[str, Any]:
    role, content = message.get("role"), message.get("content")
    if role == "tool":
        result = {
            "type": "tool_result",
            "tool_use_id": message.get("tool_call_id"),
            "content": shapes.text_of(content),
        }
        return {"role": "user", "content": [result]}
    if role == "assistant":
        return {"role": "assistant", "content": _assistant_content(message)}
    if isinstance(content, str):
        return {"role": "user", "content": content}
    return {
        "role": "user",
        "content": [_user_block(part) for part in shapes.content_parts(content)],
    }


def _assistant_content(message: dict[str, Any]) -> str | list[dict[str, Any]]:
    text = shapes.text_of(message.get("content"))
    calls = message.get("tool_calls") or []
    if not calls:
        return text
    blocks: list[dict[str, Any]] = [{"type": "text", "text": text}] if text else []
    for call in calls:
        function = call.get("function", {})
        blocks.append(
            {
                "type": "tool_use",
                "id": call.get("id"),
                "name": function.get("name"),
                "input": shapes.arguments_object(function.get("arguments")),
            }
        )
    return blocks


def _user_block(part: dict[str, Any]) -> dict[str, Any]:
    if part.get("type") in ("text", "input_text"):
        return {"type": "text", "text": part.get("text", "")}
    url = shapes.image_url_of(part)
    if url is None:
        raise UnsupportedOperation(
            f"anthropic cannot take message parts of type {part.get('type')}"
        )
    if data := shapes.parse_data_url(url):
        media_type, encoded = data
        source = {"type": "base64", "media_type": media_type, "data": encoded}
        return {"type": "image", "source": source}
    return {"type": "image", "source": {"type": "url", "url": url}}


def _tool(function: dict[str, Any]) -> dict[str, Any]:
    tool = {
        "name": function.get("name"),
        "input_schema": function.get("parameters") or {"type": "object", "properties": {}},
    }
    if function.get("description"):
        tool["description"] = function["description"]
    return tool


def _tool_choice(choice: Any) -> dict[str, Any] | None:
    if name := shapes.forced_tool_name(choice):
        return {"type": "tool", "name": name}
    return {"auto": {"type": "auto"}, "required": {"type": "any"}, "none": {"type": "none"}}.get(
        choice if isinstance(choice, str) else ""
    )


# --- answers --------------------------------------------------------------------------


def _usage(usage: Any) -> dict[str, int] | None:
    if not isinstance(usage, dict):
        return None
    # Anthropic counts cached prompt tokens apart; OpenAI's prompt_tokens includes them
    prompt = sum(
        usage.get(key) or 0
        for key in ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")
    )
    return shapes.usage(prompt, usage.get("output_tokens") or 0)


def _completion(reply: Any, target: ProviderTarget, model: str) -> dict[str, Any]:
    if not isinstance(reply, dict) or not isinstance(reply.get("content"), list):
        raise UpstreamError(f"{target.type} provider sent an unexpected message")
    blocks = reply["content"]
    text = "".join(b.get("text", "") for b in blocks if b.get("type") == "text")
    calls = [
        shapes.tool_call(b.get("id", ""), b.get("name", ""), b.get("input") or {})
        for b in blocks
        if b.get("type") == "tool_use"
    ]
    return shapes.completion(
        model=reply.get("model") or model,
        content=text if text or not calls else None,
        finish_reason=FINISH_REASONS.get(reply.get("stop_reason"), "stop"),
        usage=_usage(reply.get("usage")),
        tool_calls=calls or None,
        completion_id=reply.get("id"),
    )


@dataclass(slots=True)
class _StreamTranslator:
    """Turns Anthropic stream events into OpenAI chunks."""

    model: str
    chunks: shapes.ChunkBuilder | None = None
    usage: dict[str, Any] = field(default_factory=dict)
    tool_index: dict[int, int] = field(default_factory=dict)  # content block → tool_calls index
    done: bool = False

    @property
    def builder(self) -> shapes.ChunkBuilder:
        if self.chunks is None:
            self.chunks = shapes.ChunkBuilder(self.model)
        return self.chunks

    def feed(self, event: dict[str, Any]) -> list[dict[str, Any]]:
        handler = getattr(self, "_on_" + str(event.get("type")), None)
        return handler(event) if handler else []

    def _on_message_start(self, event: dict[str, Any]) -> list[dict[str, Any]]:
        message = event.get("message") or {}
        self.chunks = shapes.ChunkBuilder(
            message.get("model") or self.model, completion_id=message.get("id") or shapes.new_id()
        )
        self.usage.update(message.get("usage") or {})
        return [self.builder.role()]

    def _on_content_block_start(self, event: dict[str, Any]) -> list[dict[str, Any]]:
        block = event.get("content_block") or {}
        if block.get("type") == "text" and block.get("text"):
            return [self.builder.text(block["text"])]
        if block.get("type") != "tool_use":
            return []
        index = self.tool_index.setdefault(event.get("index", 0), len(self.tool_index))
        call = {**shapes.tool_call(block.get("id", ""), block.get("name", ""), ""), "index": index}
        return [self.builder.delta(tool_calls=[call])]

    def _on_content_block_delta(self, event: dict[str, Any]) -> list[dict[str, Any]]:
        delta = event.get("delta") or {}
        if delta.get("type") == "text_delta":
            return [self.builder.text(delta.get("text", ""))]
        if delta.get("type") == "input_json_delta":
            index = self.tool_index.get(event.get("index", 0), 0)
            call = {"index": index, "function": {"arguments": delta.get("partial_json", "")}}
            return [self.builder.delta(tool_calls=[call])]
        return []  # thinking and signature deltas have no OpenAI counterpart

    def _on_message_delta(self, event: dict[str, Any]) -> list[dict[str, Any]]:
        self.usage.update({k: v for k, v in (event.get("usage") or {}).items() if v is not None})
        stop_reason = (event.get("delta") or {}).get("stop_reason")
        return [self.builder.finish(FINISH_REASONS.get(stop_reason, "stop"))]

    def _on_message_stop(self, event: dict[str, Any]) -> list[dict[str, Any]]:
        self.done = True
        usage = _usage(self.usage) if self.usage else None
        return [self.builder.usage(usage)] if usage else []


class AnthropicAdapter:
    async def chat(
        self, client: httpx.AsyncClient, target: ProviderTarget, body: dict[str, Any]
    ) -> dict[str, Any]:
        reply = await send(
            client,
            target,
            "POST",
            _url(target, "/messages"),
            json=messages_request(body),
            headers=_headers(target),
        )
        return _completion(reply, target, body.get("model", ""))

    async def stream_chat(
        self, client: httpx.AsyncClient, target: ProviderTarget, body: dict[str, Any]
    ) -> AsyncIterator[dict[str, Any]]:
        request = {**messages_request(body), "stream": True}
        translator = _StreamTranslator(body.get("model", ""))
        async with open_stream(
            client,
            target,
            "POST",
            _url(target, "/messages"),
            json=request,
            headers=_headers(target),
        ) as response:
            async for event in iter_sse(response):
                payload = parse_json(event.data, target)
                if not isinstance(payload, dict) or payload.get("type") == "error":
                    raise_stream_error(target, payload)
                for chunk in translator.feed(payload):
                    yield chunk
                if translator.done:
                    return

    async def list_models(self, client: httpx.AsyncClient, target: ProviderTarget) -> list[str]:
        async def fetch_page(after_id: str | None) -> tuple[list[str], str | None]:
            params = {"limit": 1000, **({"after_id": after_id} if after_id else {})}
            reply = await send(
                client,
                target,
                "GET",
                _url(target, "/models"),
                params=params,
                headers=_headers(target),
            )
            reply = expect_object(reply, target, "model list")
            ids = [m["id"] for m in reply.get("data") or [] if m.get("id")]
            return ids, reply.get("last_id") if reply.get("has_more") else None

        return await collect_pages(fetch_page)

    async def embeddings(
        self, client: httpx.AsyncClient, target: ProviderTarget, body: dict[str, Any]
    ) -> dict[str, Any]:
        raise UnsupportedOperation("anthropic offers no embeddings API")
