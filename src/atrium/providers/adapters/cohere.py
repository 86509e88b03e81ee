"""Cohere API v2: POST /v2/chat (JSON and SSE), POST /v2/embed, GET /v1/models."""

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx

from atrium.outbound.http import (
    api_root,
    bearer,
    collect_pages,
    expect_object,
    iter_sse,
    open_stream,
    parse_json,
    raise_stream_error,
    send,
)
from atrium.providers.adapters import shapes
from atrium.providers.adapters.base import ProviderTarget, UpstreamError

DEFAULT_INPUT_TYPE = "search_document"
FINISH_REASONS = {
    "COMPLETE": "stop",
    "STOP_SEQUENCE": "stop",
    "MAX_TOKENS": "length",
    "TOOL_CALL": "tool_calls",
    "ERROR_TOXIC": "content_filter",
}
PARAMETERS = {
    "temperature": "temperature",
    "max_tokens": "max_tokens",
    "top_p": "p",
    "top_k": "k",
    "seed": "seed",
    "frequency_penalty": "frequency_penalty",
    "presence_penalty": "presence_penalty",
}
TOOL_CHOICES = {"required": "REQUIRED", "none": "NONE"}


def _url(target: ProviderTarget, path: str) -> str:
    return api_root(target.api_base, "/v1", "/v2") + path


# --- request --------------------------------------------------------------------------


def chat_request(body: dict[str, Any]) -> dict[str, Any]:
    """An OpenAI chat request as a Cohere v2 chat request."""
    request: dict[str, Any] = {
        "model": body.get("model"),
        "messages": [_message(m) for m in body.get("messages") or []],
    }
    request |= {
        cohere: body[openai]
        for openai, cohere in PARAMETERS.items()
        if body.get(openai) is not None
    }
    if max_tokens := shapes.max_tokens_of(body):
        request["max_tokens"] = max_tokens
    if stop := shapes.stop_list(body.get("stop")):
        request["stop_sequences"] = stop
    if tools := shapes.function_tools(body):
        request["tools"] = [{"type": "function", "function": function} for function in tools]
    if isinstance(body.get("tool_choice"), str) and body["tool_choice"] in TOOL_CHOICES:
        request["tool_choice"] = TOOL_CHOICES[body["tool_choice"]]
    if (body.get("response_format") or {}).get("type") == "json_object":
        request["response_format"] = {"type": "json_object"}
    return request


def _message(message: dict[str, Any]) -> dict[str, Any]:
    role, content = message.get("role"), message.get("content")
    if shapes.is_system(message):
        return {"role": "system", "content": shapes.text_of(content)}
    if role == "tool":
        text = shapes.text_of(content)
        return {"role": "tool", "tool_call_id": message.get("tool_call_id"), "content": text}
    if role == "assistant":
        converted: dict[str, Any] = {"role": "assistant"}
        if text := shapes.text_of(content):
            converted["content"] = text
        if calls := message.get("tool_calls"):
            converted["tool_calls"] = [_tool_call(call) for call in calls]
        return converted
    if isinstance(content, str):
        return {"role": "user", "content": content}
    return {"role": "user", "content": [_user_part(p) for p in shapes.content_parts(content)]}


def _tool_call(call: dict[str, Any]) -> dict[str, Any]:
    function = call.get("function") or {}
    arguments = function.get("arguments") or "{}"
    return shapes.tool_call(call.get("id", ""), function.get("name", ""), arguments)


def _user_part(part: dict[str, Any]) -> dict[str, Any]:
    url = shapes.image_url_of(part)
    if url is None:
        return {"type": "text", "text": part.get("text", "")}
    return {"type": "image_url", "image_url": {"url": url}}


# --- answers --------------------------------------------------------------------------


def _usage(usage: Any) -> dict[str, int] | None:
    """Billed units are what Cohere charges for; raw token counts are the fallback."""
    if not isinstance(usage, dict):
        return None
    counts = usage.get("billed_units") or usage.get("tokens")
    if not isinstance(counts, dict):
        return None
    return shapes.usage(counts.get("input_tokens") or 0, counts.get("output_tokens") or 0)


def _finish_reason(reason: Any, target: ProviderTarget, error: Any = None) -> str:
    if reason in ("ERROR", "TIMEOUT") or error:
        raise UpstreamError(f"{target.type} provider stopped with {reason}: {error or 'no detail'}")
    return FINISH_REASONS.get(reason, "stop")


def _completion(reply: Any, target: ProviderTarget, model: str) -> dict[str, Any]:
    reply = expect_object(reply, target, "chat reply")
    message = reply.get("message") or {}
    content = message.get("content") or []
    text = "".join(item.get("text", "") for item in content if item.get("type") == "text")
    calls = [_tool_call(call) for call in message.get("tool_calls") or []]
    return shapes.completion(
        model=model,
        content=text if text or not calls else None,
        finish_reason=_finish_reason(reply.get("finish_reason"), target),
        usage=_usage(reply.get("usage")),
        tool_calls=calls or None,
        completion_id=reply.get("id"),
    )


@dataclass(slots=True)
class _StreamTranslator:
    target: ProviderTarget
    chunks: shapes.ChunkBuilder
    tool_calls: int = 0
    done: bool = False

    def feed(self, event: dict[str, Any]) -> list[dict[str, Any]]:
        kind = str(event.get("type", ""))
        message = (event.get("delta") or {}).get("message") or {}
        if kind == "message-start":
            if event.get("id"):
                self.chunks.completion_id = event["id"]
            return [self.chunks.role()]
        if kind == "content-delta":
            return [self.chunks.text((message.get("content") or {}).get("text", ""))]
        if kind == "tool-call-start":
            call = message.get("tool_calls") or {}
            function = call.get("function") or {}
            start = shapes.tool_call(call.get("id", ""), function.get("name", ""), "")
            start["function"]["arguments"] = function.get("arguments") or ""
            self.tool_calls += 1
            return [self.chunks.delta(tool_calls=[{**start, "index": self.tool_calls - 1}])]
        if kind == "tool-call-delta":
            arguments = ((message.get("tool_calls") or {}).get("function") or {}).get("arguments")
            call = {
                "index": max(self.tool_calls - 1, 0),
                "function": {"arguments": arguments or ""},
            }
            return [self.chunks.delta(tool_calls=[call])]
        if kind == "message-end":
            return self._end(event.get("delta") or {})
        return []  # content-start/-end, tool-plan-delta, tool-call-end, citations

    def _end(self, delta: dict[str, Any]) -> list[dict[str, Any]]:
        self.done = True
        finish = _finish_reason(delta.get("finish_reason"), self.target, delta.get("error"))
        usage = _usage(delta.get("usage"))
        return [self.chunks.finish(finish)] + ([self.chunks.usage(usage)] if usage else [])


class CohereAdapter:
    async def chat(
        self, client: httpx.AsyncClient, target: ProviderTarget, body: dict[str, Any]
    ) -> dict[str, Any]:
        reply = await send(
            client,
            target,
            "POST",
            _url(target, "/v2/chat"),
            json=chat_request(body),
            headers=bearer(target),
        )
        return _completion(reply, target, body.get("model", ""))

    async def stream_chat(
        self, client: httpx.AsyncClient, target: ProviderTarget, body: dict[str, Any]
    ) -> AsyncIterator[dict[str, Any]]:
        request = {**chat_request(body), "stream": True}
        translator = _StreamTranslator(target, shapes.ChunkBuilder(body.get("model", "")))
        async with open_stream(
            client, target, "POST", _url(target, "/v2/chat"), json=request, headers=bearer(target)
        ) as response:
            async for event in iter_sse(response):
                payload = parse_json(event.data, target)
                if not isinstance(payload, dict) or (
                    "message" in payload and "type" not in payload
                ):
                    raise_stream_error(target, payload)
                for chunk in translator.feed(payload):
                    yield chunk
                if translator.done:
                    return

    async def list_models(self, client: httpx.AsyncClient, target: ProviderTarget) -> list[str]:
        async def fetch_page(token: str | None) -> tuple[list[str], str | None]:
            params = {"page_size": 1000, **({"page_token": token} if token else {})}
            url = _url(target, "/v1/models")
            reply = await send(client, target, "GET", url, params=params, headers=bearer(target))
            reply = expect_object(reply, target, "model list")
            names = [m["name"] for m in reply.get("models") or [] if m.get("name")]
            return names, reply.get("next_page_token")

        return await collect_pages(fetch_page)

    async def embeddings(
        self, client: httpx.AsyncClient, target: ProviderTarget, body: dict[str, Any]
    ) -> dict[str, Any]:
        request: dict[str, Any] = {
            "model": body.get("model"),
            "texts": shapes.embedding_inputs(body, target.type),
            "input_type": body.get("input_type") or DEFAULT_INPUT_TYPE,
            "embedding_types": ["float"],
        }
        if body.get("dimensions"):
            request["output_dimension"] = body["dimensions"]
        reply = await send(
            client, target, "POST", _url(target, "/v2/embed"), json=request, headers=bearer(target)
        )
        reply = expect_object(reply, target, "embeddings reply")
        vectors = (reply.get("embeddings") or {}).get("float")
        if not isinstance(vectors, list):
            raise UpstreamError(f"{target.type} provider sent an unexpected embeddings reply")
        billed = ((reply.get("meta") or {}).get("billed_units") or {}).get("input_tokens")
        usage = shapes.embedding_usage(billed)
        return shapes.embedding_list(
            body.get("model", ""), vectors, usage, body.get("encoding_format")
        )
