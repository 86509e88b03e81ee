"""Asking providers whether they answer: a provider's test (metered like a call) and the
health of the provider serving the default model."""

import asyncio
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from atrium.auth.principal import Principal
from atrium.gateway import fallback, metering
from atrium.providers.adapters.base import UpstreamBlocked, UpstreamError, UpstreamTimeout
from atrium.providers.adapters.models import describe_models
from atrium.providers.adapters.registry import get_adapter
from atrium.providers.service import ProviderEntry

if TYPE_CHECKING:
    from atrium.gateway.service import Gateway

HEALTH_TIMEOUT = 3.0
PING = {"messages": [{"role": "user", "content": "ping"}], "max_tokens": 1}


@dataclass(frozen=True, slots=True)
class InferenceHealth:
    status: str  # running | down | not_configured
    detail: str | None = None


async def _describe_or_ping(gateway: "Gateway", entry: ProviderEntry) -> tuple[Any, str | None]:
    """(the models the provider describes, None), or (None, the model a one-token completion
    was asked of) when it cannot list its models."""
    try:
        return await describe_models(gateway.client, entry.target), None
    except UpstreamError as exc:
        tested = (entry.models or (None,))[0]
        if tested is None or isinstance(exc, UpstreamBlocked | UpstreamTimeout):
            raise
        adapter = get_adapter(entry.type)
        await adapter.chat(gateway.client, entry.target, {"model": tested, **PING})
        return None, tested


async def probe(gateway: "Gateway", principal: Principal, entry: ProviderEntry) -> dict[str, Any]:
    """List the provider's models, else ask for a one-token completion (metered)."""
    call = metering.Call(principal, "test", "test", stream=False, entry=entry)
    try:
        described, tested = await _describe_or_ping(gateway, entry)
    except UpstreamError as exc:
        # the listing failed: the first model is the one a completion was (or would be) asked of
        tested = (entry.models or (None,))[0]
        call.model = tested or ""
        metering.meter_error(gateway, call, fallback.mapped_error(exc, entry))
        return {
            "ok": False,
            "latency_ms": call.elapsed_ms(),
            "models": [],
            "error": exc.message,
            "model_tested": tested,
        }
    call.model = tested or ""
    metering.meter(gateway, call)
    return {
        "ok": True,
        "latency_ms": call.elapsed_ms(),
        "models": [item["id"] for item in described or ()],
        "described": described,
        "error": None,
        "model_tested": tested,
    }


def _serving(entries: list[ProviderEntry], model: str | None) -> ProviderEntry | None:
    if not model:
        return None
    prefix, _, rest = model.partition("/")
    for entry in entries:
        if rest and entry.name.lower() == prefix.lower():
            return entry
    return next((entry for entry in entries if entry.serves(model)), None)


async def inference_health(gateway: "Gateway") -> InferenceHealth:
    """Whether the enabled global provider serving the default model answers, whatever its
    type (a model list is asked, with a short timeout)."""
    entries = [e for e in await gateway.providers.global_entries() if e.enabled]
    model = await gateway.default_models.configured()
    if not model:
        model = next((m for e in entries for m in e.models), None)
    entry = _serving(entries, model)
    if entry is None:
        return InferenceHealth(
            "not_configured", "no enabled global provider serves the default model"
        )
    try:
        async with asyncio.timeout(HEALTH_TIMEOUT):
            await get_adapter(entry.type).list_models(gateway.client, entry.target)
    except (UpstreamError, TimeoutError) as exc:
        detail = f"{entry.name} ({entry.type}) does not answer: {exc or type(exc).__name__}"
        return InferenceHealth("down", detail[:300])
    return InferenceHealth("running", f"{model} on {entry.name} ({entry.type})")
