"""Engine, sessions and the declarative base shared by every domain's tables."""

import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable
from datetime import UTC, datetime
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Request
from sqlalchemy import DateTime, MetaData, event, text
from sqlalchemy.engine import Dialect, make_url
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.types import TypeDecorator

from atrium.reader import Reader

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

    def result_processor(self, dialect: Dialect, coltype: Any) -> Callable[[Any], Any] | None:
        # SQLite stores naive text: parsing it with its zone appended costs 0.2 µs, a tenth of
        # SQLAlchemy's DATETIME parse and `process_result_value`'s `replace(tzinfo=UTC)` (1.3
        # µs alone on CPython 3.11); a list page reads 40 of them.
        if dialect.name == "sqlite":
            return _utc_from_sqlite
        return super().result_processor(dialect, coltype)


def _utc_from_sqlite(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value + "+00:00")
    except ValueError:  # text stored with its own offset
        moment = datetime.fromisoformat(value)
    if moment.tzinfo is UTC:
        return moment
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


SLOT_WAIT_SECONDS = 30.0


def _sqlite_pragmas(synchronous: str) -> Callable[[Any, Any], None]:
    def apply(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA synchronous={synchronous}")
        cursor.close()

    return apply


def _sqlite_file(url: str) -> tuple[str, bool]:
    """The database path of a SQLite URL, and whether it is a `file:` URI."""
    parsed = make_url(url)
    return parsed.database or ":memory:", parsed.query.get("uri") in ("true", "1")


def _sqlite_engine(
    url: str, creator: Callable[[], Awaitable[Any]], synchronous: str
) -> AsyncEngine:
    engine = create_async_engine(url, async_creator=creator, pool_size=8, max_overflow=8)
    event.listen(engine.sync_engine, "connect", _sqlite_pragmas(synchronous))
    return engine


async def _aiosqlite_connect(database: str, *, busy_timeout_s: float, uri: bool) -> Any:
    import aiosqlite

    connection = aiosqlite.connect(
        database, isolation_level=None, timeout=busy_timeout_s, uri=uri, check_same_thread=False
    )
    thread = getattr(connection, "_thread", None)
    if thread is not None:  # as SQLAlchemy's dialect does: never keep the process alive
        thread.daemon = True
    return await connection


def make_engine(
    url: str,
    *,
    stock_sqlite: bool = False,
    synchronous: str = "NORMAL",
    busy_timeout_s: float = 5.0,
) -> AsyncEngine:
    """The application's engine. On SQLite, transactions follow `sqlite_tx` (write lock,
    BEGIN IMMEDIATE) on the inline driver, or on aiosqlite with `stock_sqlite` (the bench
    compares the two); `busy_timeout_s` bounds the wait for another process's writer."""
    if not url.startswith("sqlite"):
        return create_async_engine(url, pool_size=10, max_overflow=10, pool_pre_ping=True)
    from atrium import sqlite_inline, sqlite_tx

    database, uri = _sqlite_file(url)
    # Waiting in this process's queue always progresses (FIFO, no busy loop); its bound only
    # turns a writer that never finishes into an error, so it is longer than the busy timeout.
    lock = sqlite_tx.WriteLock(max(busy_timeout_s, SLOT_WAIT_SECONDS))
    connect = _aiosqlite_connect if stock_sqlite else sqlite_inline.connect

    async def creator() -> sqlite_tx.Connection:
        inner = await connect(database, busy_timeout_s=busy_timeout_s, uri=uri)
        return sqlite_tx.Connection(inner, lock)

    return _sqlite_engine(url, creator, synchronous)


def make_long_read_engine(url: str, *, busy_timeout_s: float = 5.0) -> AsyncEngine:
    """On SQLite, read-only aiosqlite connections: a long query runs on their worker thread and
    never holds the event loop (the main engine runs SQLite inline)."""
    database, uri = _sqlite_file(url)

    async def creator() -> Any:
        return await _aiosqlite_connect(database, busy_timeout_s=busy_timeout_s, uri=uri)

    engine = create_async_engine(url, async_creator=creator, pool_size=4, max_overflow=4)
    event.listen(engine.sync_engine, "connect", _query_only)
    return engine


def _query_only(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA query_only=ON")
    cursor.close()


def make_migration_engine(url: str) -> AsyncEngine:
    """Migrations: aiosqlite's worker thread and the driver's own transactions (DDL and the
    `PRAGMA`s of batch migrations run as Alembic expects)."""
    if not url.startswith("sqlite"):
        return make_engine(url)
    engine = create_async_engine(url)
    event.listen(engine.sync_engine, "connect", _sqlite_pragmas("NORMAL"))
    return engine


def _direct_read_file(url: str, stock_sqlite: bool) -> tuple[str, bool] | None:
    """The SQLite file a `Reader` opens its own connection to; None where it cannot (another
    backend, an in-memory database, the stock driver the bench compares against)."""
    if not url.startswith("sqlite") or stock_sqlite:
        return None
    database, uri = _sqlite_file(url)
    if database == ":memory:" or "mode=memory" in database:
        return None
    return database, uri


class Database:
    """`sessions` for requests and short work; `reads` for the short read-only requests (a
    connection, no session); `long_reads` for queries that may take long (full-text search,
    analytics, exports): on SQLite they run off the event loop."""

    def __init__(
        self,
        url: str,
        *,
        stock_sqlite: bool = False,
        synchronous: str = "NORMAL",
        busy_timeout_s: float = 5.0,
    ) -> None:
        self.url = url
        self.engine = make_engine(
            url, stock_sqlite=stock_sqlite, synchronous=synchronous, busy_timeout_s=busy_timeout_s
        )
        self.sessions = async_sessionmaker(self.engine, expire_on_commit=False)
        # The same pool; on PostgreSQL in autocommit, so a read sends no BEGIN and no ROLLBACK
        # (SQLite's driver runs reads outside a write transaction in autocommit already).
        self.reads = self.engine
        if not url.startswith("sqlite"):
            self.reads = self.engine.execution_options(isolation_level="AUTOCOMMIT")
        self.reader = Reader(self.reads, _direct_read_file(url, stock_sqlite))
        # The inline SQLite driver never suspends while a session closes (see `close_session`).
        self._closes_inline = url.startswith("sqlite") and not stock_sqlite
        self.long_read_engine: AsyncEngine | None = None
        self.long_reads = self.sessions
        if url.startswith("sqlite"):
            self.long_read_engine = make_long_read_engine(url, busy_timeout_s=busy_timeout_s)
            self.long_reads = async_sessionmaker(self.long_read_engine, expire_on_commit=False)

    @contextlib.asynccontextmanager
    async def reading(self) -> AsyncIterator[AsyncConnection]:
        """A pooled connection of `reads`, given back as soon as the block ends.

        Closed directly, not by `async with engine.connect()`: that exit runs the close in a
        task of its own, which yields to the event loop with the connection still out, so under
        concurrent requests the pool overflowed and opened and dropped a connection per request
        (a new SQLite connection costs milliseconds). Closing a read commits and rolls back
        nothing, so it does not wait on the database and cannot be cut short."""
        connection = await self.reads.connect()
        try:
            yield connection
        finally:
            await connection.close()

    async def close_session(self, session: AsyncSession) -> None:
        """Close a request's session. `async with` closes in a task of its own, so that a
        cancellation cannot cut the close short; on the inline SQLite driver the close never
        yields to the loop, so it runs directly: under load the task let the next request
        find the pool empty and open a connection of its own (milliseconds on SQLite)."""
        if self._closes_inline:
            await session.close()
        else:
            await session.__aexit__(None, None, None)

    async def dispose(self) -> None:
        self.reader.close()
        await self.engine.dispose()
        if self.long_read_engine is not None:
            await self.long_read_engine.dispose()


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
    db: Database = request.app.state.db
    session = db.sessions()
    try:
        try:
            yield session
        except BaseException:
            await rollback(session)
            raise
        await commit(session)
    finally:
        await db.close_session(session)


SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]


async def begin_write(session: AsyncSession) -> None:
    """Declare `session`'s transaction a write before it reads anything: on SQLite it takes
    the write lock now (BEGIN IMMEDIATE), so what it reads stays true until it commits. Needed
    where a write depends on a read (read-modify-write, check-then-insert); call it first."""
    if session.bind.dialect.name == "sqlite":
        await session.execute(text("BEGIN IMMEDIATE"))


async def get_write_session(session: SessionDep) -> AsyncSession:
    await begin_write(session)
    return session


async def get_long_read_session(request: Request) -> AsyncIterator[AsyncSession]:
    """A session for a query that may take long (see `Database.long_reads`); read only."""
    async with request.app.state.db.long_reads() as session:
        yield session


async def get_reader(request: Request) -> Reader:
    """The application's `Reader`, for a request that only reads: no session, no connection
    held, no commit; `Prepared` statements run on it as plain rows (see `atrium.reader`)."""
    return request.app.state.db.reader


ReadDep = Annotated[Reader, Depends(get_reader)]
WriteSessionDep = Annotated[AsyncSession, Depends(get_write_session, scope="function")]
LongReadSessionDep = Annotated[AsyncSession, Depends(get_long_read_session)]
