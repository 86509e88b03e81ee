"""Sources of one streamed completion, for the gateway to relay as pieces arrive.

`ChunkSource` reads any adapter's chunk dicts. `RawSource` is the fast path for providers
that already speak OpenAI's SSE (openai, together, vllm, custom): their bytes are relayed
as they are, an upstream read at a time (every complete event in it, as one piece), and
each event is parsed only to meter it and to drop the usage chunk the client did not ask for.
"""

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson

from atrium.outbound.http import ERROR_TEXT_LIMIT, bearer, join_url, post_bytes, provider_message
from atrium.providers.adapters import shapes
from atrium.providers.adapters.base import ProviderTarget, UpstreamError, UpstreamTimeout

OPENAI_WIRE = frozenset(("openai", "together", "vllm", "custom"))
DONE = b"[DONE]"
JSON = "application/json"


@dataclass(slots=True)
class StreamTally:
    """Text and usage seen in a stream, for metering."""

    parts: list[str] = field(default_factory=list)
    usage: dict[str, Any] | None = None

    def add(self, chunk: dict[str, Any]) -> None:
        if chunk.get("usage"):
            self.usage = chunk["usage"]
        for choice in chunk.get("choices") or ():
            delta = choice.get("delta") or {}
            content = delta.get("content")
            if isinstance(content, str):
                self.parts.append(content)
            for call in delta.get("tool_calls") or ():
                function = call.get("function") or {}
                self.parts.append(function.get("name") or "")
                self.parts.append(function.get("arguments") or "")

    def text(self) -> str:
        return "".join(self.parts)


def for_client(chunk: dict[str, Any], want_usage: bool) -> dict[str, Any] | None:
    """The chunk as the client asked for it: usage only when it asked."""
    if want_usage or not chunk.get("usage"):
        return chunk
    if not chunk.get("choices"):
        return None
    chunk = dict(chunk)
    del chunk["usage"]
    return chunk


def sse(chunk: dict[str, Any]) -> bytes:
    return b"data: " + orjson.dumps(chunk) + b"\n\n"


class ChunkSource:
    """An adapter's chunk dicts, as dicts or as SSE bytes."""

    def __init__(
        self, upstream: AsyncIterator[dict[str, Any]], want_usage: bool, as_bytes: bool
    ) -> None:
        self.upstream = upstream
        self.want_usage = want_usage
        self.as_bytes = as_bytes
        self.tally = StreamTally()

    async def next(self) -> Any:
        while True:
            chunk = await anext(self.upstream, None)
            if chunk is None:
                return None
            self.tally.add(chunk)
            shown = for_client(chunk, self.want_usage)
            if shown is not None:
                return sse(shown) if self.as_bytes else shown

    async def aclose(self) -> None:
        await self.upstream.aclose()  # type: ignore[attr-defined]


class RawSource:
    """An OpenAI-format SSE body relayed as bytes."""

    def __init__(
        self,
        stack: AsyncExitStack,
        response: Any,  # httpx.Response, or the lean transport's Answer: both have aiter_raw()
        target: ProviderTarget,
        want_usage: bool,
    ) -> None:
        self.stack = stack
        self.reads = response.aiter_raw()
        self.target = target
        self.want_usage = want_usage
        self.tally = StreamTally()
        self.buffer = b""
        self.done = False

    async def next(self) -> bytes | None:
        while not self.done:
            try:
                data = await anext(self.reads, None)
            except httpx.TimeoutException as exc:
                raise UpstreamTimeout(
                    f"{self.target.type} provider stopped sending within {self.target.timeout:g} s"
                ) from exc
            except httpx.HTTPError as exc:
                raise UpstreamError(f"{self.target.type} provider stream broke: {exc}") from exc
            if data is None:
                self.done = True
                return None
            piece = self.feed(data)
            if piece:
                return piece
        return None

    def feed(self, data: bytes) -> bytes:
        """Complete events of the buffer, as the client should get them."""
        buffer = self.buffer + data
        if b"\r" in buffer:
            buffer = buffer.replace(b"\r\n", b"\n")
        out: list[bytes] = []
        while not self.done:
            end = buffer.find(b"\n\n")
            if end < 0:
                break
            event, buffer = buffer[:end], buffer[end + 2 :]
            shown = self._event(event)
            if shown is not None:
                out.append(shown)
        self.buffer = buffer
        return b"".join(out)

    def _event(self, event: bytes) -> bytes | None:
        lines = [line[5:].lstrip(b" ") for line in event.split(b"\n") if line.startswith(b"data:")]
        if not lines:
            return None  # a comment or keep-alive
        payload = b"\n".join(lines)
        if payload.strip() == DONE:
            self.done = True
            return None
        try:
            chunk = orjson.loads(payload)
        except orjson.JSONDecodeError:
            raise UpstreamError(
                f"{self.target.type} provider sent an unreadable stream event: {payload[:200]!r}"
            ) from None
        if not isinstance(chunk, dict) or "error" in chunk:
            message = provider_message(chunk) or str(chunk)[:ERROR_TEXT_LIMIT]
            raise UpstreamError(
                f"{self.target.type} provider reported an error in its stream: {message}"
            )
        self.tally.add(chunk)
        if self.want_usage or not chunk.get("usage"):
            return b"data: " + payload + b"\n\n"
        shown = for_client(chunk, self.want_usage)
        return None if shown is None else sse(shown)

    async def aclose(self) -> None:
        await self.stack.aclose()


# --- the non-streamed fast path --------------------------------------------------------

COMPLETION_FIELDS = ("id", "object", "created", "model")


async def openai_wire_chat(
    client: httpx.AsyncClient, target: ProviderTarget, payload: dict[str, Any]
) -> tuple[dict[str, Any], bytes]:
    """A chat completion from an OpenAI-format provider: the parsed reply and its bytes,
    which the `/v1` surface relays unchanged when they already have the full shape."""
    body = {k: v for k, v in payload.items() if k not in ("stream", "stream_options")}
    url = join_url(target.api_base, "/chat/completions")
    headers = {**bearer(target), "Content-Type": JSON, "Accept-Encoding": "identity"}
    status, raw = await post_bytes(client, target, url, orjson.dumps(body), headers)
    try:
        reply = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise UpstreamError(
            f"{target.type} provider sent an unreadable reply (not JSON)", upstream_status=status
        ) from None
    if not isinstance(reply, dict) or not isinstance(reply.get("choices"), list):
        raise UpstreamError(f"{target.type} provider sent an unexpected chat completion")
    if any(name not in reply for name in COMPLETION_FIELDS) or "usage" not in reply:
        reply.setdefault("id", shapes.new_id())
        reply.setdefault("object", "chat.completion")
        reply.setdefault("created", shapes.now())
        reply.setdefault("model", payload.get("model", ""))
        reply.setdefault("usage", None)
        raw = orjson.dumps(reply)
    return reply, raw
