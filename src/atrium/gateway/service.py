"""The gateway every completion goes through: what other domains call.

A warm call costs no query: providers (the providers domain's cache) and prices (the usage
domain's price book) come from memory, limits from memory (or one Redis script), and the
usage record is queued for the usage domain's batch writer. `Gateway` holds those objects
and delegates each operation to its module: routing, fallback, chat, streaming, embeddings,
probing, metering.
"""

from collections.abc import AsyncIterator
from typing import Any

from atrium.auth.principal import Principal
from atrium.errors import AtriumError
from atrium.gateway import chat, embeddings, probing, routing, streaming
from atrium.gateway.limits import LimitSource, MemoryLimiter
from atrium.gateway.probing import InferenceHealth
from atrium.gateway.redis_limits import RedisLimiter
from atrium.gateway.tokens import count_message_tokens, count_tokens
from atrium.providers import service as providers_service
from atrium.providers.service import ProviderEntry
from atrium.usage import service as usage_service

__all__ = [
    "Gateway",
    "InferenceHealth",
    "count_message_tokens",
    "count_tokens",
]


class Gateway:
    """The gateway of one app: its limiter and default model, over the providers' cache and
    client (`app.state.provider_cache`, `provider_client`, `provider_discovery`) and the
    usage writer and price book (`app.state.usage_writer`, `price_book`), read from the app
    state when used so that each domain's setup may run in any order."""

    def __init__(self, state: Any) -> None:
        self.state = state
        self.settings = state.settings
        self.sessions = state.db.sessions
        namespace = providers_service.redis_namespace(self.settings.resolved_database_url)
        source = LimitSource(state.db.sessions, state.auth_cache)
        self.limiter = (
            RedisLimiter(source, state.redis, namespace)
            if state.redis is not None
            else MemoryLimiter(source)
        )
        self.default_models = routing.DefaultModel(self)

    # the other domains' objects

    @property
    def client(self) -> Any:
        return self.state.provider_client

    @property
    def providers(self) -> providers_service.ProviderCache:
        return self.state.provider_cache

    @property
    def discovery(self) -> Any:
        return self.state.provider_discovery

    @property
    def prices(self) -> usage_service.PriceBook:
        return usage_service.prices_of(self.state)

    @property
    def usage(self) -> usage_service.UsageWriter:
        return usage_service.writer_of(self.state)

    async def flush_usage(self) -> None:
        await self.usage.flush()

    # models

    async def visible_providers(
        self, principal: Principal
    ) -> tuple[tuple[ProviderEntry, ...], tuple[ProviderEntry, ...]]:
        return await routing.visible(self, principal)

    async def models(self, principal: Principal) -> list[tuple[str, ProviderEntry]]:
        """Every model an enabled visible provider serves, once, with the provider serving it."""
        own, globals_ = await self.visible_providers(principal)
        found: dict[str, ProviderEntry] = {}
        for entry in (*own, *globals_):
            if entry.enabled:
                for model in entry.models:
                    found.setdefault(model, entry)
        return list(found.items())

    async def model_info(self, principal: Principal, model: str) -> dict[str, Any]:
        """What is known of the model a request naming `model` would reach ({} if nothing)."""
        own, globals_ = await self.visible_providers(principal)
        try:
            route = routing.resolve(own, globals_, model)
        except AtriumError:
            return {}
        entry, upstream_model = route.candidates[0]
        return entry.model_info(upstream_model)

    async def admin_default_model(self) -> str | None:
        return await self.default_models.configured()

    def forget_default_model(self) -> None:
        self.default_models.forget()

    async def default_model(self, principal: Principal) -> str | None:
        return await self.default_models.of(principal)

    # calls

    async def complete(
        self, principal: Principal, body: dict, *, origin: str = "api"
    ) -> dict[str, Any]:
        """One chat completion (OpenAI `chat.completion` dict), metered."""
        reply, _raw = await chat.complete(self, principal, body, origin)
        return reply

    async def complete_json(self, principal: Principal, body: Any, *, origin: str = "api") -> bytes:
        """The same completion as JSON bytes (relayed unchanged where the provider's are)."""
        return chat.as_json(*await chat.complete(self, principal, body, origin))

    def stream(
        self, principal: Principal, body: dict, *, origin: str = "api"
    ) -> AsyncIterator[dict[str, Any]]:
        """Chunks of one streamed completion as they arrive; routing, limit and upstream
        errors before the first chunk raise before anything is yielded."""
        return streaming.stream(self, principal, body, origin, as_bytes=False)

    def stream_sse(
        self, principal: Principal, body: dict, *, origin: str = "api"
    ) -> AsyncIterator[bytes]:
        """The same stream as server-sent-event bytes (without the final `[DONE]`)."""
        return streaming.stream(self, principal, body, origin, as_bytes=True)

    async def embeddings(
        self, principal: Principal, body: dict, *, origin: str = "api"
    ) -> dict[str, Any]:
        return await embeddings.embeddings(self, principal, body, origin)

    # probes

    async def probe(self, principal: Principal, entry: ProviderEntry) -> dict[str, Any]:
        """A provider's test: its model list, else a one-token completion (metered)."""
        return await probing.probe(self, principal, entry)

    async def inference_health(self) -> InferenceHealth:
        """Whether the provider serving the default model answers (asked now)."""
        return await probing.inference_health(self)

    # lifecycle

    def start(self) -> None:
        """Prices are reloaded whenever the providers' cache is dropped: a price change is
        announced through the providers' shared version, so every process sees it."""
        self.providers.listeners.append(self.prices.mark_stale)
        self.prices.broadcast = self.providers.invalidate_after_commit
