"""Streamed chat completions: the first piece is read before anything is relayed (so that a
provider failing early can still fall back), then pieces are relayed as they arrive and the
call is metered however it ends (finished, failed, or cut off by the client)."""

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from typing import TYPE_CHECKING, Any

import anyio
import orjson

from atrium.auth.principal import Principal
from atrium.errors import AtriumError
from atrium.gateway import fallback, metering, routing, tokens
from atrium.gateway.streams import JSON, OPENAI_WIRE, ChunkSource, RawSource
from atrium.gateway.validation import check_chat_body
from atrium.outbound.http import bearer, join_url, open_byte_stream
from atrium.providers.adapters.base import UpstreamError
from atrium.providers.adapters.registry import get_adapter
from atrium.providers.service import ProviderEntry
from atrium.usage import service as usage_service

if TYPE_CHECKING:
    from atrium.gateway.service import Gateway


async def _open_raw(
    gateway: "Gateway", stack: AsyncExitStack, entry: ProviderEntry, payload: dict, body: dict
) -> Any:
    """An OpenAI-format provider's event stream, relayed byte for byte (usage always asked
    for, so that the call can be metered)."""
    options = {**(body.get("stream_options") or {}), "include_usage": True}
    content = orjson.dumps({**payload, "stream": True, "stream_options": options})
    headers = {**bearer(entry.target), "Content-Type": JSON, "Accept-Encoding": "identity"}
    url = join_url(entry.target.api_base, "/chat/completions")
    return await stack.enter_async_context(
        open_byte_stream(gateway.client, entry.target, url, content, headers)
    )


async def open_source(
    gateway: "Gateway",
    entry: ProviderEntry,
    model: str,
    body: dict[str, Any],
    want_usage: bool,
    as_bytes: bool,
) -> tuple[ChunkSource | RawSource, Any]:
    """Open the provider's stream and read up to its first piece."""
    payload = fallback.payload(entry, model, body)
    source: ChunkSource | RawSource
    stack = AsyncExitStack()
    try:
        if as_bytes and entry.type in OPENAI_WIRE:
            response = await _open_raw(gateway, stack, entry, payload, body)
            source = RawSource(stack, response, entry.target, want_usage)
        else:
            upstream = get_adapter(entry.type).stream_chat(gateway.client, entry.target, payload)
            stack.push_async_callback(upstream.aclose)  # type: ignore[attr-defined]
            source = ChunkSource(upstream, want_usage, as_bytes)
        first = await source.next()
    except BaseException:
        await stack.aclose()
        raise
    return source, first


async def stream(
    gateway: "Gateway", principal: Principal, body: dict, origin: str, *, as_bytes: bool
) -> AsyncIterator[Any]:
    """Chunks (or SSE bytes) of one streamed completion; routing, limit and upstream errors
    before the first chunk raise before anything is yielded."""
    call = metering.Call(principal, origin, "chat", stream=True)
    try:
        check_chat_body(body)
        want_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        route = await routing.route(gateway, principal, body.get("model"), call)
        source, first = await fallback.in_order(
            route,
            call,
            lambda entry, model: open_source(gateway, entry, model, body, want_usage, as_bytes),
        )
    except AtriumError as exc:
        metering.meter_error(gateway, call, exc)
        raise
    call.mark_first_chunk()
    checkpoint = usage_service.stream_checkpoint(gateway.state)
    tally = source.tally
    finished = False
    try:
        piece = first
        while piece is not None:
            yield piece
            if checkpoint.due():
                interim = metering.record_so_far(
                    gateway, call, body, tally, usage_service.INTERRUPTED
                )
                await metering.settle(gateway, checkpoint, interim)
            piece = await source.next()
        finished = True
    except UpstreamError as exc:
        error = fallback.mapped_error(exc, call.entry)  # type: ignore[arg-type]
        finished = None  # metered
        reason = f"{error.code}: {error.detail}"[:2000]
        failed = metering.record_so_far(gateway, call, body, tally, reason, error.status_code)
        await metering.settle(gateway, checkpoint, failed)
        raise error from exc
    finally:
        await source.aclose()
        if finished is False:
            with anyio.CancelScope(shield=True):
                gone = metering.record_so_far(gateway, call, body, tally, "client disconnected")
                await metering.settle(gateway, checkpoint, gone)
    await metering.meter_success(
        gateway,
        call,
        tally.usage,
        lambda: tokens.count_message_tokens(body["messages"], call.upstream_model),
        lambda: tokens.count_tokens(tally.text(), call.upstream_model),
        checkpoint,
    )
