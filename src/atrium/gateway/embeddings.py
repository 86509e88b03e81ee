"""Embeddings: routed like chat, metered by input tokens."""

from typing import TYPE_CHECKING, Any

from atrium.auth.principal import Principal
from atrium.errors import AtriumError
from atrium.gateway import fallback, metering, routing, tokens
from atrium.gateway.validation import check_embeddings_body
from atrium.providers.adapters.registry import get_adapter

if TYPE_CHECKING:
    from atrium.gateway.service import Gateway


def _input_tokens(body: dict[str, Any], model: str) -> int:
    inputs = body["input"] if isinstance(body["input"], list) else [body["input"]]
    return sum(tokens.count_tokens(i, model) for i in inputs if isinstance(i, str))


async def embeddings(
    gateway: "Gateway", principal: Principal, body: Any, origin: str
) -> dict[str, Any]:
    call = metering.Call(principal, origin, "embeddings", stream=False)
    try:
        check_embeddings_body(body)
        route = await routing.route(gateway, principal, body["model"], call)
        reply = await fallback.in_order(
            route,
            call,
            lambda entry, model: get_adapter(entry.type).embeddings(
                gateway.client, entry.target, {**body, "model": model}
            ),
        )
    except AtriumError as exc:
        metering.meter_error(gateway, call, exc)
        raise
    await metering.meter_success(
        gateway,
        call,
        reply.get("usage"),
        lambda: _input_tokens(body, call.upstream_model),
        lambda: 0,
    )
    return reply
