"""What is known of the providers without a query: entries per owner, their models.

Providers are cached per owner (globals once, each user's own on first use, the least
recently used owners dropped past `MAX_OWNERS`) with their keys decrypted, and dropped after
any provider change commits; with Redis a shared version key makes every process drop its
copy.
"""

import logging
from dataclasses import dataclass, field
from typing import Any

from cachetools import LRUCache
from cryptography.fernet import InvalidToken, MultiFernet
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from atrium.db import after_commit
from atrium.providers.adapters.base import ProviderTarget
from atrium.providers.adapters.registry import provider_info
from atrium.providers.tables import LlmProvider

log = logging.getLogger("atrium.providers")
VERSION_KEY = "atrium:llm:catalog:version"
MAX_OWNERS = 10_000  # users whose own providers are kept in memory


@dataclass(frozen=True, slots=True)
class ProviderEntry:
    id: int
    owner_id: int | None
    name: str
    type: str
    models: tuple[str, ...]
    enabled: bool
    target: ProviderTarget
    extra_params: dict[str, Any]
    created: int = 0
    settings: dict[str, Any] = field(default_factory=dict)
    pinned: bool = False  # the owner chose the models; otherwise they are the discovered ones
    metadata: dict[str, dict[str, Any]] = field(default_factory=dict)
    reachable: bool | None = None  # the last contact's outcome; None before any

    def serves(self, model: str) -> bool:
        return model in self.models

    def model_info(self, model: str) -> dict[str, Any]:
        return self.metadata.get(model) or {}


@dataclass(frozen=True, slots=True)
class Route:
    """Where one call goes: providers to try in order, and the model id to send each."""

    requested: str
    candidates: tuple[tuple[ProviderEntry, str], ...]


def target_of(provider: LlmProvider, api_key: str | None) -> ProviderTarget:
    settings = provider.settings or {}
    base = provider.api_base or provider_info(provider.type).default_api_base or ""
    return ProviderTarget(
        type=provider.type,
        api_base=base,
        api_key=api_key,
        timeout=float(settings.get("timeout") or 60),
        headers=dict(settings.get("custom_headers") or {}),
        allow_private=provider.owner_id is None,
    )


def decrypt_key(fernet: MultiFernet, provider: LlmProvider) -> str | None:
    if not provider.api_key_encrypted:
        return None
    try:
        return fernet.decrypt(provider.api_key_encrypted).decode()
    except InvalidToken:
        log.error(
            "provider %s: stored API key cannot be decrypted with the current keys", provider.id
        )
        return None


def served_models(provider: LlmProvider) -> list[str]:
    """The pinned list when the owner gave one, else what the provider listed last."""
    return list(provider.models or ()) or list(provider.discovered_models or ())


def model_metadata(provider: LlmProvider) -> dict[str, dict[str, Any]]:
    """Per model: what the provider reported, overridden by what an owner or admin set."""
    merged: dict[str, dict[str, Any]] = {}
    for source in (provider.discovered_metadata or {}, provider.model_metadata or {}):
        for model, values in source.items():
            if isinstance(values, dict):
                known = {k: v for k, v in values.items() if v is not None}
                merged[model] = {**merged.get(model, {}), **known}
    return merged


def reachable(provider: LlmProvider) -> bool | None:
    if provider.last_test_status is None:
        return None
    return provider.last_test_status == "success"


def model_status(entry: ProviderEntry) -> str:
    """`available` when the provider answered its last contact, `unreachable` when it did not,
    `unknown` before any contact."""
    if entry.reachable is None:
        return "unknown"
    return "available" if entry.reachable else "unreachable"


def entry_of(provider: LlmProvider, fernet: MultiFernet) -> ProviderEntry:
    settings = provider.settings or {}
    return ProviderEntry(
        id=provider.id,
        owner_id=provider.owner_id,
        name=provider.name,
        type=provider.type,
        models=tuple(served_models(provider)),
        enabled=provider.enabled,
        target=target_of(provider, decrypt_key(fernet, provider)),
        extra_params=dict(settings.get("extra_params") or {}),
        created=int(provider.created_at.timestamp()) if provider.created_at else 0,
        settings=dict(settings),
        pinned=bool(provider.models),
        metadata=model_metadata(provider),
        reachable=reachable(provider),
    )


class ProviderCache:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        fernet: MultiFernet,
        redis: Any = None,
        namespace: str = "",
    ) -> None:
        self.sessions = sessions
        self.fernet = fernet
        self.redis = redis
        self.version_key = f"{VERSION_KEY}:{namespace}"
        self.version = 0
        self._globals: tuple[ProviderEntry, ...] | None = None
        self._own: LRUCache[int, tuple[ProviderEntry, ...]] = LRUCache(maxsize=MAX_OWNERS)
        self.listeners: list = []  # called after every invalidation (prices reload, ...)

    def clear(self) -> None:
        self._globals = None
        self._own.clear()
        for listener in self.listeners:
            listener()

    async def sync(self) -> None:
        if self.redis is None:
            return
        shared = int(await self.redis.get(self.version_key) or 0)
        if shared != self.version:
            self.clear()
            self.version = shared

    async def bump(self) -> None:
        self.clear()
        if self.redis is not None:
            self.version = int(await self.redis.incr(self.version_key))

    def invalidate_after_commit(self, session: AsyncSession) -> None:
        """Drop the providers once this transaction commits (once however many changes)."""
        after_commit(session, self.bump, key=self)

    async def _load(self, owner_id: int | None) -> tuple[ProviderEntry, ...]:
        condition = (
            LlmProvider.owner_id.is_(None) if owner_id is None else LlmProvider.owner_id == owner_id
        )
        async with self.sessions() as session:
            rows = await session.scalars(
                select(LlmProvider).where(condition).order_by(LlmProvider.id)
            )
            return tuple(entry_of(row, self.fernet) for row in rows)

    async def global_entries(self) -> tuple[ProviderEntry, ...]:
        await self.sync()
        if self._globals is None:
            self._globals = await self._load(None)
        return self._globals

    async def visible(
        self, user_id: int
    ) -> tuple[tuple[ProviderEntry, ...], tuple[ProviderEntry, ...]]:
        """(the user's own providers, the global ones), both in creation order."""
        await self.sync()
        globals_ = self._globals
        if globals_ is None:
            globals_ = self._globals = await self._load(None)
        own = self._own.get(user_id)
        if own is None:
            own = self._own[user_id] = await self._load(user_id)
        return own, globals_
