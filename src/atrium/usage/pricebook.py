"""The price table kept in memory: the gateway prices each call without a query."""

import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import event, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from atrium.usage.tables import ModelPrice

RELOAD_SECONDS = 60.0


class PriceBook:
    """Per-model list prices (USD per million tokens), kept in memory, reloaded on change."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self.sessions = sessions
        self.prices: dict[tuple[str, str], tuple[float, float]] = {}
        self.by_model: dict[str, tuple[float, float]] = {}
        self.loaded_at = 0.0
        self.stale = True
        # called with the session of a price change; the app wires it to a signal that other
        # processes also see (the provider cache's shared version), else only this one reloads
        self.broadcast: Callable[[AsyncSession], None] | None = None

    def mark_stale(self) -> None:
        self.stale = True

    def invalidate_after_commit(self, session: AsyncSession) -> None:
        """Reload the prices once the change being made in `session` commits."""
        if self.broadcast is not None:
            self.broadcast(session)
            return

        def on_commit(_session: Any) -> None:
            self.mark_stale()

        event.listen(session.sync_session, "after_commit", on_commit, once=True)

    async def ensure(self) -> None:
        if self.stale or time.monotonic() - self.loaded_at > RELOAD_SECONDS:
            await self.load()

    async def load(self) -> None:
        async with self.sessions() as session:
            rows = await session.execute(
                select(
                    ModelPrice.provider_type,
                    ModelPrice.model,
                    ModelPrice.input_usd_per_mtok,
                    ModelPrice.output_usd_per_mtok,
                )
            )
            self.prices = {(t, m.lower()): (i, o) for t, m, i, o in rows}
        # a model served by another provider type (a proxy, a custom server) keeps its price
        self.by_model = {}
        for (_type, model), price in sorted(self.prices.items()):
            self.by_model.setdefault(model, price)
        self.loaded_at = time.monotonic()
        self.stale = False

    def _find(self, provider_type: str, key: str) -> tuple[float, float] | None:
        return (
            self.prices.get((provider_type, key))
            or self.prices.get(("", key))
            or self.by_model.get(key)
        )

    def lookup(self, provider_type: str, model: str) -> tuple[float, float] | None:
        key = model.lower()
        found = self._find(provider_type, key)
        if found is None and "/" in key:  # "models/gemini-..." priced by its last part too
            found = self._find(provider_type, key.rsplit("/", 1)[1])
        return found

    def cost(self, provider_type: str, model: str, prompt: int, completion: int) -> float:
        price = self.lookup(provider_type, model)
        if price is None:
            return 0.0
        return (prompt * price[0] + completion * price[1]) / 1_000_000
