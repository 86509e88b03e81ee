"""Chat completions that are not streamed: routed, tried in order, metered."""

from typing import TYPE_CHECKING, Any

import orjson

from atrium.auth.principal import Principal
from atrium.errors import AtriumError
from atrium.gateway import fallback, metering, routing, tokens
from atrium.gateway.streams import OPENAI_WIRE, openai_wire_chat
from atrium.gateway.validation import check_chat_body
from atrium.providers.adapters.registry import get_adapter
from atrium.providers.service import ProviderEntry

if TYPE_CHECKING:
    from atrium.gateway.service import Gateway


def completion_text(reply: dict[str, Any]) -> str:
    parts: list[str] = []
    for choice in reply.get("choices") or ():
        message = choice.get("message") or {}
        content = message.get("content")
        if isinstance(content, str):
            parts.append(content)
        for call in message.get("tool_calls") or ():
            function = call.get("function") or {}
            parts.append(function.get("name") or "")
            parts.append(function.get("arguments") or "")
    return "".join(parts)


async def _chat(
    gateway: "Gateway", entry: ProviderEntry, model: str, body: dict[str, Any]
) -> tuple[dict[str, Any], bytes | None]:
    payload = fallback.payload(entry, model, body)
    if entry.type in OPENAI_WIRE:
        return await openai_wire_chat(gateway.client, entry.target, payload)
    return await get_adapter(entry.type).chat(gateway.client, entry.target, payload), None


async def complete(
    gateway: "Gateway", principal: Principal, body: Any, origin: str
) -> tuple[dict[str, Any], bytes | None]:
    """One chat completion (OpenAI `chat.completion` dict) and the provider's own JSON bytes
    when they can be relayed unchanged; metered, successful or not."""
    call = metering.Call(principal, origin, "chat", stream=False)
    try:
        check_chat_body(body)
        route = await routing.route(gateway, principal, body.get("model"), call)
        reply, raw = await fallback.in_order(
            route, call, lambda entry, model: _chat(gateway, entry, model, body)
        )
    except AtriumError as exc:
        metering.meter_error(gateway, call, exc)
        raise
    await metering.meter_success(
        gateway,
        call,
        reply.get("usage"),
        lambda: tokens.count_message_tokens(body["messages"], call.upstream_model),
        lambda: tokens.count_tokens(completion_text(reply), call.upstream_model),
    )
    return reply, raw


def as_json(reply: dict[str, Any], raw: bytes | None) -> bytes:
    return raw if raw is not None else orjson.dumps(reply)
