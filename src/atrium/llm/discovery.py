"""Discovery on demand: when a request names a model no visible provider serves, the
providers that serve what they list (none pinned) are asked again before the answer is 404.

Two guards keep a bad model name from hammering upstreams: a provider is asked at most once
per `PROVIDER_INTERVAL`, and a model still unknown afterwards is answered 404 from memory for
`MISS_TTL` seconds (per user, since users see different providers).
"""

import asyncio
import logging
import time
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from atrium.llm import service as llm_service
from atrium.llm.catalog import ProviderCache, ProviderEntry
from atrium.llm.tables import LlmProvider

log = logging.getLogger("atrium.llm.discovery")
MISS_TTL = 60.0
PROVIDER_INTERVAL = 30.0
MAX_MISSES = 10_000


class OnDemandDiscovery:
    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], client: Any, cache: ProviderCache
    ) -> None:
        self.sessions = sessions
        self.client = client
        self.cache = cache
        self.misses: dict[tuple[int, str], float] = {}
        self.asked: dict[int, float] = {}
        self.running: dict[int, asyncio.Task[list[str]]] = {}

    def _refreshes(self, entries: tuple[ProviderEntry, ...], now: float) -> list[asyncio.Task]:
        """A refresh per unpinned enabled provider: the one already running (a concurrent
        request waits for it), or a new one unless it was asked within the interval."""
        tasks = []
        for entry in entries:
            if not entry.enabled or entry.pinned:
                continue
            task = self.running.get(entry.id)
            if task is None:
                if now - self.asked.get(entry.id, -PROVIDER_INTERVAL) < PROVIDER_INTERVAL:
                    continue
                self.asked[entry.id] = now
                task = asyncio.ensure_future(self._refresh(entry))
                self.running[entry.id] = task
                task.add_done_callback(lambda _t, key=entry.id: self.running.pop(key, None))
            tasks.append(task)
        return tasks

    async def find(self, user_id: int, model: str, entries: tuple[ProviderEntry, ...]) -> bool:
        """True when asking again found a provider serving `model` (the cache is refreshed)."""
        now = time.monotonic()
        key = (user_id, model)
        if self.misses.get(key, 0.0) > now:
            return False
        listed = await asyncio.gather(*self._refreshes(entries, now))
        if any(model in models for models in listed):
            return True
        if len(self.misses) >= MAX_MISSES:
            self.misses = {k: v for k, v in self.misses.items() if v > now}
        self.misses[key] = now + MISS_TTL
        return False

    async def _refresh(self, entry: ProviderEntry) -> list[str]:
        found, error = await llm_service.discover_target(self.client, entry.target)
        if error is not None:
            log.warning("provider %s: model discovery failed: %s", entry.name, error)
        async with self.sessions() as session:
            provider = await session.get(LlmProvider, entry.id)
            if provider is None:
                return []
            llm_service.apply_discovery(provider, found, error)
            await session.commit()
        await self.cache.bump()
        return [item["id"] for item in found or ()]
