"""Metering a call: the usage record it leaves (queued for the usage domain's batch writer,
or written by a stream's checkpoint) and its tokens and cost counted against the limits."""

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from atrium.auth.principal import Principal
from atrium.errors import AtriumError
from atrium.gateway import tokens
from atrium.gateway.streams import StreamTally
from atrium.providers.service import ProviderEntry
from atrium.usage.service import StreamCheckpoint

if TYPE_CHECKING:
    from atrium.gateway.service import Gateway

CANCELLED = 499  # the client went away before the answer ended


@dataclass(slots=True)
class Call:
    """One metered call: what the usage record will say."""

    principal: Principal
    origin: str
    endpoint: str
    stream: bool
    started: float = field(default_factory=time.perf_counter)
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    model: str = ""
    entry: ProviderEntry | None = None
    upstream_model: str = ""
    ttft_ms: int | None = None

    def elapsed_ms(self) -> int:
        return int((time.perf_counter() - self.started) * 1000)

    def mark_first_chunk(self) -> None:
        if self.ttft_ms is None:
            self.ttft_ms = self.elapsed_ms()


def record_of(
    gateway: "Gateway",
    call: Call,
    *,
    status_code: int = 200,
    error: str | None = None,
    prompt: int = 0,
    completion: int = 0,
    estimated: bool = False,
) -> dict[str, Any]:
    entry = call.entry
    provider_type = entry.type if entry else ""
    cost = gateway.prices.cost(provider_type, call.upstream_model or call.model, prompt, completion)
    return {
        "user_id": call.principal.user_id,
        "key_id": call.principal.key_id,
        "provider_id": entry.id if entry else None,
        "provider": entry.name if entry else "",
        "provider_type": provider_type,
        "model": call.model[:200],
        "origin": call.origin[:32],
        "endpoint": call.endpoint,
        "stream": call.stream,
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "estimated": estimated,
        "cost_usd": cost,
        "latency_ms": call.elapsed_ms(),
        "ttft_ms": call.ttft_ms,
        "status": "ok" if status_code < 400 else "error",
        "status_code": status_code,
        "error": error,
        "created_at": call.created_at,
    }


def meter(gateway: "Gateway", call: Call, **figures: Any) -> float:
    record = record_of(gateway, call, **figures)
    gateway.usage.add(record)
    return record["cost_usd"]


def meter_error(gateway: "Gateway", call: Call, exc: AtriumError) -> None:
    meter(gateway, call, status_code=exc.status_code, error=f"{exc.code}: {exc.detail}"[:2000])


async def settle(
    gateway: "Gateway", checkpoint: StreamCheckpoint | None, record: dict[str, Any]
) -> None:
    """Write the record where it belongs: the stream's own row, else the batch writer."""
    if checkpoint is None or not await checkpoint.settle(record):
        gateway.usage.add(record)


async def meter_success(
    gateway: "Gateway",
    call: Call,
    usage: dict[str, Any] | None,
    prompt_of: Callable[[], int],
    completion_of: Callable[[], int],
    checkpoint: StreamCheckpoint | None = None,
) -> None:
    """The provider's token counts when it gave them, else counted here (estimated)."""
    if usage and usage.get("prompt_tokens") is not None:
        prompt = int(usage.get("prompt_tokens") or 0)
        completion = int(usage.get("completion_tokens") or 0)
        estimated = False
    else:
        prompt, completion, estimated = prompt_of(), completion_of(), True
    record = record_of(gateway, call, prompt=prompt, completion=completion, estimated=estimated)
    await settle(gateway, checkpoint, record)
    await gateway.limiter.record(call.principal, prompt + completion, record["cost_usd"])


def streamed_so_far(body: dict[str, Any], tally: StreamTally, model: str) -> tuple[int, int]:
    """(prompt, completion) tokens of a stream cut short, counted locally."""
    return tokens.count_message_tokens(body["messages"], model), tokens.count_tokens(
        tally.text(), model
    )


def record_so_far(
    gateway: "Gateway",
    call: Call,
    body: dict,
    tally: StreamTally,
    error: str,
    status_code: int = CANCELLED,
) -> dict[str, Any]:
    """The record of a stream cut short: what was streamed, estimated."""
    prompt, completion = streamed_so_far(body, tally, call.upstream_model)
    figures = {"prompt": prompt, "completion": completion, "estimated": True}
    return record_of(gateway, call, status_code=status_code, error=error, **figures)
