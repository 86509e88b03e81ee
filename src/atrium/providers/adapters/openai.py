"""OpenAI chat completions wire format: OpenAI itself, Together, vLLM and custom servers.

Requests pass through almost untouched; the adapter only adds authentication, asks for usage
in streams, and checks that the answers have the shape the gateway relies on.
"""

from collections.abc import AsyncIterator
from typing import Any

import httpx

from atrium.outbound.http import (
    bearer,
    iter_sse,
    join_url,
    open_stream,
    parse_json,
    raise_stream_error,
    send,
)
from atrium.providers.adapters import shapes
from atrium.providers.adapters.base import ProviderTarget, UpstreamError

STREAM_END = "[DONE]"


class OpenAIAdapter:
    async def chat(
        self, client: httpx.AsyncClient, target: ProviderTarget, body: dict[str, Any]
    ) -> dict[str, Any]:
        payload = {k: v for k, v in body.items() if k not in ("stream", "stream_options")}
        reply = await send(
            client,
            target,
            "POST",
            join_url(target.api_base, "/chat/completions"),
            json=payload,
            headers=bearer(target),
        )
        return _checked_completion(reply, target, body.get("model", ""))

    async def stream_chat(
        self, client: httpx.AsyncClient, target: ProviderTarget, body: dict[str, Any]
    ) -> AsyncIterator[dict[str, Any]]:
        stream_options = {**(body.get("stream_options") or {}), "include_usage": True}
        payload = {**body, "stream": True, "stream_options": stream_options}
        url = join_url(target.api_base, "/chat/completions")
        async with open_stream(
            client, target, "POST", url, json=payload, headers=bearer(target)
        ) as response:
            async for event in iter_sse(response):
                if event.data.strip() == STREAM_END:
                    return
                chunk = parse_json(event.data, target)
                if not isinstance(chunk, dict) or "error" in chunk:
                    raise_stream_error(target, chunk)
                yield chunk

    async def list_models(self, client: httpx.AsyncClient, target: ProviderTarget) -> list[str]:
        reply = await send(
            client, target, "GET", join_url(target.api_base, "/models"), headers=bearer(target)
        )
        # OpenAI answers {"object": "list", "data": [...]}; Together answers a bare list
        items = reply.get("data") if isinstance(reply, dict) else reply
        if not isinstance(items, list):
            raise UpstreamError(f"{target.type} provider sent an unexpected model list")
        return [item["id"] for item in items if isinstance(item, dict) and item.get("id")]

    async def embeddings(
        self, client: httpx.AsyncClient, target: ProviderTarget, body: dict[str, Any]
    ) -> dict[str, Any]:
        reply = await send(
            client,
            target,
            "POST",
            join_url(target.api_base, "/embeddings"),
            json=body,
            headers=bearer(target),
        )
        if not isinstance(reply, dict) or not isinstance(reply.get("data"), list):
            raise UpstreamError(f"{target.type} provider sent an unexpected embeddings reply")
        reply.setdefault("object", "list")
        reply.setdefault("model", body.get("model", ""))
        reply.setdefault("usage", None)
        return reply


def _checked_completion(reply: Any, target: ProviderTarget, model: str) -> dict[str, Any]:
    if not isinstance(reply, dict) or not isinstance(reply.get("choices"), list):
        raise UpstreamError(f"{target.type} provider sent an unexpected chat completion")
    reply.setdefault("id", shapes.new_id())
    reply.setdefault("object", "chat.completion")
    reply.setdefault("created", shapes.now())
    reply.setdefault("model", model)
    reply.setdefault("usage", None)
    return reply
