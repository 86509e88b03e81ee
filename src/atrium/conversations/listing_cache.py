"""The first pages of users' conversation lists, kept serialised until one of their
conversations changes (the sidebar's list is the workspace's most frequent request).

Each user has a version, bumped after every commit that changes one of their conversations'
summaries: services call `changed(session, user_id)`, and the bump runs once the transaction
has committed (`db.after_commit`). A page is stored with the version read before its
query and served only while that version is still the current one, so a write committing
while the query runs never leaves a stale page (compare-and-set). Without Redis the versions
live in this process; with `ATRIUM_REDIS_URL` they live in Redis, read once per listing, so
every process sees every other's writes.
"""

from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from atrium.db import after_commit, share_with_sessions

VERSION_KEY = "atrium:conversations:version:"
SESSION_KEY = "listing_cache"
CHANGED_KEY = "listing_changed"
MAX_PAGES = 4096
MAX_ROWS = 200  # larger pages are not kept


@dataclass(frozen=True, slots=True)
class Page:
    version: int
    body: bytes
    cursor: str | None


class ListingCache:
    def __init__(self, redis: Any = None) -> None:
        self.redis = redis
        self.versions: dict[int, int] = {}
        self.pages: dict[Hashable, Page] = {}

    async def version(self, user_id: int) -> int:
        if self.redis is None:
            return self.versions.get(user_id, 0)
        return int(await self.redis.get(f"{VERSION_KEY}{user_id}") or 0)

    async def page(
        self,
        user_id: int,
        key: Hashable,
        size: int,
        build: Callable[[], Awaitable[tuple[bytes, str | None]]],
    ) -> tuple[bytes, str | None]:
        """The page under `key` (which starts with what identifies the user), from the cache
        while `user_id`'s version is unchanged, else built and kept."""
        version = await self.version(user_id)
        cached = self.pages.get(key)
        if cached is not None and cached.version == version:
            return cached.body, cached.cursor
        body, cursor = await build()
        unchanged = self.redis is not None or self.versions.get(user_id, 0) == version
        if size <= MAX_ROWS and unchanged:
            if len(self.pages) >= MAX_PAGES:
                self.pages.clear()
            self.pages[key] = Page(version, body, cursor)
        return body, cursor

    async def bump(self, user_ids: set[int]) -> None:
        for user_id in user_ids:
            if self.redis is None:
                self.versions[user_id] = self.versions.get(user_id, 0) + 1
            else:
                await self.redis.incr(f"{VERSION_KEY}{user_id}")


class _Bump:
    """The after-commit bump of every user a transaction changed."""

    def __init__(self, cache: ListingCache) -> None:
        self.cache = cache
        self.users: set[int] = set()

    async def __call__(self) -> None:
        await self.cache.bump(self.users)


def changed(session: AsyncSession, user_id: int) -> None:
    """`user_id`'s conversation summaries change in this transaction: their cached pages go
    once it commits (one bump per transaction for all the users it changed)."""
    cache: ListingCache | None = session.info.get(SESSION_KEY)
    if cache is None:
        return
    after_commit(session, _Bump(cache), key=CHANGED_KEY).users.add(user_id)


def install(sessions: Any, cache: ListingCache) -> None:
    """Every session of `sessions` (an async_sessionmaker) reaches `cache` through `changed`."""
    share_with_sessions(sessions, **{SESSION_KEY: cache})
