"""Discovery on demand: when a request names a model no visible provider serves, the
providers that serve what they list (none pinned) are asked again before the answer is 404.

Two guards keep a bad model name from hammering upstreams: a provider is asked at most once
per `PROVIDER_INTERVAL`, and a model still unknown afterwards is answered 404 from memory for
`MISS_TTL` seconds (per user, since users see different providers). Both are bounded TTL
caches, so a flood of made-up model names cannot grow them without limit.
"""

import asyncio
import logging
from typing import Any

from cachetools import TTLCache
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from atrium.providers import service as providers_service
from atrium.providers.catalog import ProviderCache, ProviderEntry
from atrium.providers.tables import LlmProvider

log = logging.getLogger("atrium.providers.discovery")
MISS_TTL = 60.0
PROVIDER_INTERVAL = 30.0
MAX_MISSES = 10_000
MAX_PROVIDERS = 10_000


class OnDemandDiscovery:
    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], client: Any, cache: ProviderCache
    ) -> None:
        self.sessions = sessions
        self.client = client
        self.cache = cache
        # (user id, model) answered 404 from memory until the entry expires
        self.misses: TTLCache[tuple[int, str], bool] = TTLCache(MAX_MISSES, MISS_TTL)
        # provider ids asked recently: not asked again until the entry expires
        self.asked: TTLCache[int, bool] = TTLCache(MAX_PROVIDERS, PROVIDER_INTERVAL)
        self.running: dict[int, asyncio.Task[list[str]]] = {}

    def _refreshes(self, entries: tuple[ProviderEntry, ...]) -> list[asyncio.Task]:
        """A refresh per unpinned enabled provider: the one already running (a concurrent
        request waits for it), or a new one unless it was asked within the interval."""
        tasks = []
        for entry in entries:
            if not entry.enabled or entry.pinned:
                continue
            task = self.running.get(entry.id)
            if task is None:
                if entry.id in self.asked:
                    continue
                self.asked[entry.id] = True
                task = asyncio.ensure_future(self._refresh(entry))
                self.running[entry.id] = task
                task.add_done_callback(lambda _t, key=entry.id: self.running.pop(key, None))
            tasks.append(task)
        return tasks

    async def find(self, user_id: int, model: str, entries: tuple[ProviderEntry, ...]) -> bool:
        """True when asking again found a provider serving `model` (the cache is refreshed)."""
        key = (user_id, model)
        if key in self.misses:
            return False
        listed = await asyncio.gather(*self._refreshes(entries))
        if any(model in models for models in listed):
            return True
        self.misses[key] = True
        return False

    async def _refresh(self, entry: ProviderEntry) -> list[str]:
        found, error = await providers_service.discover_target(self.client, entry.target)
        if error is not None:
            log.warning("provider %s: model discovery failed: %s", entry.name, error)
        async with self.sessions() as session:
            provider = await session.get(LlmProvider, entry.id)
            if provider is None:
                return []
            providers_service.apply_discovery(provider, found, error)
            await session.commit()
        await self.cache.bump()
        return [item["id"] for item in found or ()]
