"""The gateway every completion goes through: routing, fallback, limits and metering.

A warm call costs no query: providers and prices come from memory, limits from memory (or
one Redis pipeline), and the usage record is queued for the batch writer.
"""

import hashlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

import anyio
import httpx
import orjson

from atrium.auth.principal import Principal
from atrium.errors import AtriumError
from atrium.llm import tokens
from atrium.llm.adapters.base import (
    UnsupportedOperation,
    UpstreamBlocked,
    UpstreamError,
    UpstreamTimeout,
)
from atrium.llm.adapters.models import describe_models
from atrium.llm.adapters.registry import get_adapter
from atrium.llm.catalog import (
    PriceBook,
    ProviderCache,
    ProviderEntry,
    Route,
    available_models,
    resolve,
)
from atrium.llm.checkpoint import INTERRUPTED, StreamCheckpoint, streamed_so_far
from atrium.llm.discovery import OnDemandDiscovery
from atrium.llm.errors import (
    MalformedRequest,
    ModelNotFound,
    NoProviderConfigured,
    UnsupportedByProvider,
    UpstreamFailed,
    UpstreamRejected,
    UpstreamTimedOut,
)
from atrium.llm.limits import LimitSource, MemoryLimiter, RedisLimiter
from atrium.llm.streams import (
    OPENAI_WIRE,
    ChunkSource,
    RawSource,
    StreamTally,
    openai_wire_chat,
)
from atrium.llm.usage import UsageWriter
from atrium.outbound.http import bearer, join_url, make_client, open_stream

log = logging.getLogger("atrium.llm.gateway")
T = TypeVar("T")

ROLES = frozenset(("system", "developer", "user", "assistant", "tool", "function"))
DEFAULT_MODEL_TTL = 5.0
CANCELLED = 499  # the client went away before the answer ended


def redis_namespace(database_url: str) -> str:
    """Installs sharing a Redis server keep apart: their counters are keyed by database."""
    return hashlib.sha256(database_url.encode()).hexdigest()[:12]


# --- request checks -------------------------------------------------------------------


def _check_message(index: int, message: Any) -> None:
    where = f"messages[{index}]"
    if not isinstance(message, dict):
        raise MalformedRequest(f"{where} must be an object with 'role' and 'content'", param=where)
    role = message.get("role")
    if role not in ROLES:
        raise MalformedRequest(
            f"{where}.role must be one of {', '.join(sorted(ROLES))} (got {role!r})",
            param=f"{where}.role",
        )
    content = message.get("content")
    if content is None:
        if role == "assistant" and (message.get("tool_calls") or message.get("function_call")):
            return
        raise MalformedRequest(f"{where}.content is required", param=f"{where}.content")
    if not isinstance(content, str | list):
        raise MalformedRequest(
            f"{where}.content must be a string or a list of content parts",
            param=f"{where}.content",
        )


def check_chat_body(body: Any) -> None:
    if not isinstance(body, dict):
        raise MalformedRequest("The request body must be a JSON object")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise MalformedRequest("messages must be a non-empty list of messages", param="messages")
    for index, message in enumerate(messages):
        _check_message(index, message)
    model = body.get("model")
    if model is not None and not isinstance(model, str):
        raise MalformedRequest("model must be a string", param="model")
    if "stream" in body and not isinstance(body["stream"], bool | None):
        raise MalformedRequest("stream must be true or false", param="stream")


def check_embeddings_body(body: Any) -> None:
    if not isinstance(body, dict):
        raise MalformedRequest("The request body must be a JSON object")
    if not isinstance(body.get("model"), str) or not body["model"]:
        raise MalformedRequest("model is required", param="model")
    value = body.get("input")
    if not value or not isinstance(value, str | list):
        raise MalformedRequest("input must be a string or a non-empty list", param="input")


# --- errors ---------------------------------------------------------------------------


def retryable(exc: UpstreamError) -> bool:
    """A failure worth trying another provider for: a timeout, no answer, or a 5xx."""
    if isinstance(exc, UnsupportedOperation | UpstreamBlocked):
        return False
    if isinstance(exc, UpstreamTimeout):
        return True
    return exc.upstream_status is None or exc.upstream_status >= 500


def mapped_error(exc: UpstreamError, entry: ProviderEntry) -> AtriumError:
    detail = f"Provider '{entry.name}': {exc.message}"
    if isinstance(exc, UnsupportedOperation):
        return UnsupportedByProvider(detail)
    if isinstance(exc, UpstreamTimeout):
        return UpstreamTimedOut(detail)
    if exc.upstream_status in (400, 404, 413, 422):
        return UpstreamRejected(detail)
    return UpstreamFailed(detail)


# --- metering -------------------------------------------------------------------------


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


# --- the gateway ----------------------------------------------------------------------


class Gateway:
    def __init__(self, state: Any) -> None:
        self.state = state
        self.settings = state.settings
        self.sessions = state.db.sessions
        stock = "httpx" in self.settings.stock_libraries  # the bench's comparison
        self.client: httpx.AsyncClient = make_client(stock=stock)
        namespace = redis_namespace(self.settings.resolved_database_url)
        self.providers = ProviderCache(
            state.db.sessions, state.secrets.fernet, state.redis, namespace
        )
        self.prices = PriceBook(state.db.sessions)
        self.providers.listeners.append(self.prices.mark_stale)
        self.usage = UsageWriter(state.db.sessions, state.settings.usage_flush_seconds)
        source = LimitSource(state.db.sessions, state.auth_cache)
        self.limiter = (
            RedisLimiter(source, state.redis, namespace)
            if state.redis is not None
            else MemoryLimiter(source)
        )
        self._default_model: tuple[float, str | None] | None = None
        self.discovery = OnDemandDiscovery(state.db.sessions, self.client, self.providers)

    # lifecycle

    async def start(self) -> None:
        await self.prices.load()
        self.usage.start()

    async def close(self) -> None:
        await self.usage.stop()
        await self.client.aclose()

    async def flush_usage(self) -> None:
        await self.usage.flush()

    # public helpers

    async def model_info(self, principal: Principal, model: str) -> dict[str, Any]:
        """What is known of the model a request naming `model` would reach ({} if nothing)."""
        own, globals_ = await self.visible_providers(principal)
        try:
            route = resolve(own, globals_, model)
        except AtriumError:
            return {}
        entry, upstream_model = route.candidates[0]
        return entry.model_info(upstream_model)

    async def visible_providers(
        self, principal: Principal
    ) -> tuple[tuple[ProviderEntry, ...], tuple[ProviderEntry, ...]]:
        return await self.providers.visible(principal.user_id)

    async def models(self, principal: Principal) -> list[tuple[str, ProviderEntry]]:
        """Every model an enabled visible provider serves, once, with the provider serving it."""
        own, globals_ = await self.visible_providers(principal)
        found: dict[str, ProviderEntry] = {}
        for entry in (*own, *globals_):
            if entry.enabled:
                for model in entry.models:
                    found.setdefault(model, entry)
        return list(found.items())

    async def admin_default_model(self) -> str | None:
        now = time.monotonic()
        if self._default_model is not None and now - self._default_model[0] < DEFAULT_MODEL_TTL:
            return self._default_model[1]
        value = None
        try:
            from atrium.settings_store import service as settings_service
        except ImportError:  # the settings store is optional
            settings_service = None
        if settings_service is not None:
            async with self.sessions() as session:
                value = await settings_service.default_model(session, self.settings)
        self._default_model = (now, value)
        return value

    def forget_default_model(self) -> None:
        self._default_model = None

    async def default_model(self, principal: Principal) -> str | None:
        configured = await self.admin_default_model()
        if configured:
            return configured
        own, globals_ = await self.visible_providers(principal)
        models = available_models(own, globals_)
        return models[0] if models else None

    # routing

    async def _route(self, principal: Principal, model: str | None, call: Call) -> Route:
        if not model:
            model = await self.default_model(principal)
            if not model:
                own, globals_ = await self.visible_providers(principal)
                if not own and not globals_:
                    raise NoProviderConfigured()
                raise ModelNotFound(
                    "No model was given and no default model is available: enable a provider "
                    "with at least one model, or set the default model"
                )
        call.model = model
        own, globals_ = await self.visible_providers(principal)
        try:
            route = resolve(own, globals_, model)
        except ModelNotFound:
            if not await self.discovery.find(principal.user_id, model, (*own, *globals_)):
                raise
            own, globals_ = await self.visible_providers(principal)
            route = resolve(own, globals_, model)
        await self.limiter.check(principal)
        await self.prices.ensure()
        return route

    @staticmethod
    def _payload(entry: ProviderEntry, model: str, body: dict[str, Any]) -> dict[str, Any]:
        if entry.extra_params:
            return {**entry.extra_params, **body, "model": model}
        return {**body, "model": model}

    async def _in_order(
        self,
        route: Route,
        call: Call,
        attempt: Callable[[ProviderEntry, str], Awaitable[T]],
    ) -> T:
        candidates = route.candidates
        for index, (entry, model) in enumerate(candidates):
            call.entry, call.upstream_model = entry, model
            try:
                return await attempt(entry, model)
            except UpstreamError as exc:
                if index + 1 < len(candidates) and retryable(exc):
                    log.warning(
                        "provider %s failed (%s); falling back to %s",
                        entry.name,
                        exc.message,
                        candidates[index + 1][0].name,
                    )
                    continue
                raise mapped_error(exc, entry) from exc
        raise AssertionError("a route always has a candidate")

    # metering

    def _meter(self, call: Call, **figures: Any) -> float:
        record = self._record(call, **figures)
        self.usage.add(record)
        return record["cost_usd"]

    def _record(
        self,
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
        cost = self.prices.cost(
            provider_type, call.upstream_model or call.model, prompt, completion
        )
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

    def _meter_error(self, call: Call, exc: AtriumError) -> None:
        self._meter(call, status_code=exc.status_code, error=f"{exc.code}: {exc.detail}"[:2000])

    async def _meter_success(
        self,
        call: Call,
        usage: dict[str, Any] | None,
        prompt_of,
        completion_of,
        checkpoint: StreamCheckpoint | None = None,
    ) -> None:
        if usage and usage.get("prompt_tokens") is not None:
            prompt = int(usage.get("prompt_tokens") or 0)
            completion = int(usage.get("completion_tokens") or 0)
            estimated = False
        else:
            prompt, completion, estimated = prompt_of(), completion_of(), True
        record = self._record(call, prompt=prompt, completion=completion, estimated=estimated)
        await self._settle(checkpoint, record)
        await self.limiter.record(call.principal, prompt + completion, record["cost_usd"])

    # chat

    async def complete(
        self, principal: Principal, body: dict, *, origin: str = "api"
    ) -> dict[str, Any]:
        """One chat completion (OpenAI `chat.completion` dict), metered."""
        reply, _raw = await self._complete(principal, body, origin)
        return reply

    async def complete_json(self, principal: Principal, body: Any, *, origin: str = "api") -> bytes:
        """The same completion as JSON bytes (relayed unchanged where the provider's are)."""
        reply, raw = await self._complete(principal, body, origin)
        return raw if raw is not None else orjson.dumps(reply)

    async def _complete(
        self, principal: Principal, body: Any, origin: str
    ) -> tuple[dict[str, Any], bytes | None]:
        call = Call(principal, origin, "chat", stream=False)
        try:
            check_chat_body(body)
            route = await self._route(principal, body.get("model"), call)
            reply, raw = await self._in_order(
                route, call, lambda entry, model: self._chat(entry, model, body)
            )
        except AtriumError as exc:
            self._meter_error(call, exc)
            raise
        await self._meter_success(
            call,
            reply.get("usage"),
            lambda: tokens.count_message_tokens(body["messages"], call.upstream_model),
            lambda: tokens.count_tokens(completion_text(reply), call.upstream_model),
        )
        return reply, raw

    async def _chat(
        self, entry: ProviderEntry, model: str, body: dict[str, Any]
    ) -> tuple[dict[str, Any], bytes | None]:
        payload = self._payload(entry, model, body)
        if entry.type in OPENAI_WIRE:
            return await openai_wire_chat(self.client, entry.target, payload)
        return await get_adapter(entry.type).chat(self.client, entry.target, payload), None

    def stream(
        self, principal: Principal, body: dict, *, origin: str = "api"
    ) -> AsyncIterator[dict[str, Any]]:
        """Chunks of one streamed completion as they arrive; routing, limit and upstream
        errors before the first chunk raise before anything is yielded."""
        return self._stream(principal, body, origin, as_bytes=False)

    def stream_sse(
        self, principal: Principal, body: dict, *, origin: str = "api"
    ) -> AsyncIterator[bytes]:
        """The same stream as server-sent-event bytes (without the final `[DONE]`)."""
        return self._stream(principal, body, origin, as_bytes=True)

    async def _stream(
        self, principal: Principal, body: dict, origin: str, *, as_bytes: bool
    ) -> AsyncIterator[Any]:
        call = Call(principal, origin, "chat", stream=True)
        try:
            check_chat_body(body)
            want_usage = bool((body.get("stream_options") or {}).get("include_usage"))
            route = await self._route(principal, body.get("model"), call)
            source, first = await self._in_order(
                route,
                call,
                lambda entry, model: self._open_source(entry, model, body, want_usage, as_bytes),
            )
        except AtriumError as exc:
            self._meter_error(call, exc)
            raise
        call.mark_first_chunk()
        checkpoint = StreamCheckpoint(self.sessions, self.settings.usage_flush_seconds)
        tally = source.tally
        finished = False
        try:
            piece = first
            while piece is not None:
                yield piece
                if checkpoint.due():
                    await self._settle(checkpoint, self._so_far(call, body, tally, INTERRUPTED))
                piece = await source.next()
            finished = True
        except UpstreamError as exc:
            error = mapped_error(exc, call.entry)  # type: ignore[arg-type]
            finished = None  # metered
            reason = f"{error.code}: {error.detail}"[:2000]
            failed = self._so_far(call, body, tally, reason, error.status_code)
            await self._settle(checkpoint, failed)
            raise error from exc
        finally:
            await source.aclose()
            if finished is False:
                with anyio.CancelScope(shield=True):
                    gone = self._so_far(call, body, tally, "client disconnected")
                    await self._settle(checkpoint, gone)
        await self._meter_success(
            call,
            tally.usage,
            lambda: tokens.count_message_tokens(body["messages"], call.upstream_model),
            lambda: tokens.count_tokens(tally.text(), call.upstream_model),
            checkpoint,
        )

    def _so_far(
        self, call: Call, body: dict, tally: StreamTally, error: str, status_code: int = CANCELLED
    ) -> dict[str, Any]:
        """The record of a stream cut short: what was streamed, estimated."""
        prompt, completion = streamed_so_far(body, tally, call.upstream_model)
        figures = {"prompt": prompt, "completion": completion, "estimated": True}
        return self._record(call, status_code=status_code, error=error, **figures)

    async def _settle(self, checkpoint: StreamCheckpoint | None, record: dict[str, Any]) -> None:
        if checkpoint is None or not await checkpoint.settle(record):
            self.usage.add(record)

    async def _open_source(
        self,
        entry: ProviderEntry,
        model: str,
        body: dict[str, Any],
        want_usage: bool,
        as_bytes: bool,
    ) -> tuple[ChunkSource | RawSource, Any]:
        """Open the provider's stream and read up to its first piece (so that a failure
        before anything was relayed can still fall back to another provider)."""
        payload = self._payload(entry, model, body)
        source: ChunkSource | RawSource
        stack = AsyncExitStack()
        try:
            if as_bytes and entry.type in OPENAI_WIRE:
                options = {**(body.get("stream_options") or {}), "include_usage": True}
                response = await stack.enter_async_context(
                    open_stream(
                        self.client,
                        entry.target,
                        "POST",
                        join_url(entry.target.api_base, "/chat/completions"),
                        json={**payload, "stream": True, "stream_options": options},
                        headers={**bearer(entry.target), "Accept-Encoding": "identity"},
                    )
                )
                source = RawSource(stack, response, entry.target, want_usage)
            else:
                upstream = get_adapter(entry.type).stream_chat(self.client, entry.target, payload)
                stack.push_async_callback(upstream.aclose)  # type: ignore[attr-defined]
                source = ChunkSource(upstream, want_usage, as_bytes)
            first = await source.next()
        except BaseException:
            await stack.aclose()
            raise
        return source, first

    # embeddings

    async def embeddings(
        self, principal: Principal, body: dict, *, origin: str = "api"
    ) -> dict[str, Any]:
        call = Call(principal, origin, "embeddings", stream=False)
        try:
            check_embeddings_body(body)
            route = await self._route(principal, body["model"], call)
            reply = await self._in_order(
                route,
                call,
                lambda entry, model: get_adapter(entry.type).embeddings(
                    self.client, entry.target, {**body, "model": model}
                ),
            )
        except AtriumError as exc:
            self._meter_error(call, exc)
            raise
        inputs = body["input"] if isinstance(body["input"], list) else [body["input"]]
        await self._meter_success(
            call,
            reply.get("usage"),
            lambda: sum(
                tokens.count_tokens(i, call.upstream_model) for i in inputs if isinstance(i, str)
            ),
            lambda: 0,
        )
        return reply

    # provider tests

    async def probe(self, principal: Principal, entry: ProviderEntry) -> dict[str, Any]:
        """List the provider's models, else ask for a one-token completion (metered)."""
        call = Call(principal, "test", "test", stream=False, entry=entry)
        adapter = get_adapter(entry.type)
        described: list[dict[str, Any]] | None = None
        tested: str | None = None
        try:
            try:
                described = await describe_models(self.client, entry.target)
            except UpstreamError as exc:
                tested = (entry.models or (None,))[0]
                if tested is None or isinstance(exc, UpstreamBlocked | UpstreamTimeout):
                    raise
                await adapter.chat(
                    self.client,
                    entry.target,
                    {
                        "model": tested,
                        "messages": [{"role": "user", "content": "ping"}],
                        "max_tokens": 1,
                    },
                )
        except UpstreamError as exc:
            error = mapped_error(exc, entry)
            call.model = tested or ""
            self._meter_error(call, error)
            return {
                "ok": False,
                "latency_ms": call.elapsed_ms(),
                "models": [],
                "error": exc.message,
                "model_tested": tested,
            }
        call.model = tested or ""
        self._meter(call)
        return {
            "ok": True,
            "latency_ms": call.elapsed_ms(),
            "models": [item["id"] for item in described or ()],
            "described": described,
            "error": None,
            "model_tested": tested,
        }
