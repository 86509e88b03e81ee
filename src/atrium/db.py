"""Engine, sessions and the declarative base shared by every domain's tables."""

import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable
from datetime import UTC, datetime
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Request
from sqlalchemy import DateTime, MetaData, event
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite stores them naive)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def make_engine(url: str, *, stock_sqlite: bool = False) -> AsyncEngine:
    """`stock_sqlite` keeps aiosqlite's worker threads instead of the inline driver (the
    bench compares the two)."""
    if url.startswith("sqlite"):
        from atrium.sqlite_inline import inline_dbapi

        options = {} if stock_sqlite else {"module": inline_dbapi()}
        engine = create_async_engine(url, pool_size=8, max_overflow=8, **options)
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    return create_async_engine(url, pool_size=10, max_overflow=10, pool_pre_ping=True)


class Database:
    def __init__(self, url: str, *, stock_sqlite: bool = False) -> None:
        self.url = url
        self.engine = make_engine(url, stock_sqlite=stock_sqlite)
        self.sessions = async_sessionmaker(self.engine, expire_on_commit=False)

    async def dispose(self) -> None:
        await self.engine.dispose()


def share_with_sessions(sessions: Any, **values: Any) -> None:
    """Put `values` into the `info` of every session `sessions` (an async_sessionmaker) makes,
    beside what other domains put there."""
    sessions.configure(info={**(sessions.kw.get("info") or {}), **values})


Hook = Callable[[], Awaitable[None]]
H = TypeVar("H", bound=Hook)
_COMMIT_HOOKS = "db.after_commit"
_ROLLBACK_HOOKS = "db.after_rollback"
log = logging.getLogger("atrium.db")


def _register(session: AsyncSession, slot: str, hook: H, key: Hashable | None) -> H:
    hooks: dict[Hashable, H] = session.info.setdefault(slot, {})
    return hooks.setdefault(object() if key is None else key, hook)


def after_commit(session: AsyncSession, hook: H, *, key: Hashable | None = None) -> H:
    """Run `hook` once this session's transaction has committed; a rollback discards it.

    With `key`, one hook per key and transaction: the one already registered under it is kept
    and returned (a cache invalidated by ten changes is invalidated once). The hooks run in
    `commit(session)` (and so in `SessionDep` and `transaction`), in the order registered.
    """
    return _register(session, _COMMIT_HOOKS, hook, key)


def after_rollback(session: AsyncSession, hook: H, *, key: Hashable | None = None) -> H:
    """Run `hook` if this session's transaction rolls back (`rollback(session)`, or a failed
    commit); a commit discards it. For work done outside the database that only the
    transaction's success keeps, such as bytes written for rows that never got stored."""
    return _register(session, _ROLLBACK_HOOKS, hook, key)


async def _run(session: AsyncSession, run: str, drop: str) -> None:
    """Every hook of `run` even when one fails (the first failure is raised after them)."""
    session.info.pop(drop, None)
    hooks: dict[Hashable, Hook] = session.info.pop(run, None) or {}
    failure: BaseException | None = None
    for hook in hooks.values():
        try:
            await hook()
        except Exception as exc:
            log.exception("a hook after %s failed", run.removeprefix("db.after_"))
            failure = failure or exc
    if failure is not None:
        raise failure


async def commit(session: AsyncSession) -> None:
    """Commit, then run the after-commit hooks; a failed commit runs the rollback hooks."""
    try:
        await session.commit()
    except BaseException:
        await rollback(session)
        raise
    await _run(session, _COMMIT_HOOKS, _ROLLBACK_HOOKS)


async def rollback(session: AsyncSession) -> None:
    """Roll back, then run the after-rollback hooks (the after-commit ones are dropped)."""
    await session.rollback()
    await _run(session, _ROLLBACK_HOOKS, _COMMIT_HOOKS)


@contextlib.asynccontextmanager
async def transaction(sessions: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """A session for work outside a request (jobs, background tasks): committed with its
    hooks when the block ends, rolled back with its hooks when it raises."""
    async with sessions() as session:
        try:
            yield session
        except BaseException:
            await rollback(session)
            raise
        await commit(session)


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """One transaction per request: committed after the handler, before the response is sent
    (with its after-commit hooks), or rolled back (with its after-rollback hooks)."""
    async with request.app.state.db.sessions() as session:
        try:
            yield session
        except BaseException:
            await rollback(session)
            raise
        await commit(session)


SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]
