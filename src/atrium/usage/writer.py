"""Usage records: queued by the gateway, written in batches off the request path, with the
daily roll-ups updated from the same batches.

On a SQLite file the batches are written by a worker thread on its own connection
(`sqlite_worker.py`), straight through the sqlite3 driver: a batch on the event-loop thread held
every request in flight for its whole duration, which was the gateway's latency tail. On
PostgreSQL they go through the app's engine (asyncpg does the work off the interpreter).
"""

import logging
import sqlite3
from collections.abc import Awaitable, Callable, Iterable
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import Date, case, cast, delete, func, insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from atrium.batching import BatchWriter
from atrium.sqlite_worker import SqliteWorker, sqlite_file, write_transaction
from atrium.usage.tables import UsageDaily, UsageRecord

log = logging.getLogger("atrium.usage.writer")
ROLLUP_KEY = ("day", "user_id", "model", "provider")
ROLLUP_SUMS = (
    "calls",
    "errors",
    "prompt_tokens",
    "completion_tokens",
    "cost_usd",
    "latency_ms_sum",
)
FOREIGN_IDS = ("key_id", "provider_id")
MAX_BATCH = 1000
RECORD_COLUMNS = tuple(c.name for c in UsageRecord.__table__.columns if c.name != "id")
# a record may leave out what has a default (as the ORM's insert fills it in)
RECORD_DEFAULTS = {
    c.name: c.default.arg
    for c in UsageRecord.__table__.columns
    if c.default is not None and c.default.is_scalar
}
ROLLUP_COLUMNS = (*ROLLUP_KEY, *ROLLUP_SUMS, "last_at")
SQLITE_INSERT = (
    f"INSERT INTO usage_record ({', '.join(RECORD_COLUMNS)}) "
    f"VALUES ({', '.join('?' * len(RECORD_COLUMNS))})"
)
SQLITE_UPSERT = (
    f"INSERT INTO usage_daily ({', '.join(ROLLUP_COLUMNS)}) "
    f"VALUES ({', '.join('?' * len(ROLLUP_COLUMNS))}) "
    f"ON CONFLICT ({', '.join(ROLLUP_KEY)}) DO UPDATE SET "
    + ", ".join(f"{name} = usage_daily.{name} + excluded.{name}" for name in ROLLUP_SUMS)
    + ", last_at = excluded.last_at"
)


def rollup_rows(records: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Sum records per (day, user, model, provider)."""
    groups: dict[tuple, dict[str, Any]] = {}
    for record in records:
        created: datetime = record["created_at"]
        key = (
            created.date(),
            record.get("user_id"),
            record.get("model", ""),
            record.get("provider", ""),
        )
        row = groups.get(key)
        if row is None:
            row = groups[key] = dict(zip(ROLLUP_KEY, key, strict=True))
            row.update({name: 0 for name in ROLLUP_SUMS})
            row["last_at"] = created
        row["calls"] += 1
        row["errors"] += record.get("status") != "ok"
        row["prompt_tokens"] += record.get("prompt_tokens", 0)
        row["completion_tokens"] += record.get("completion_tokens", 0)
        row["cost_usd"] += record.get("cost_usd", 0.0)
        row["latency_ms_sum"] += record.get("latency_ms", 0)
        row["last_at"] = max(row["last_at"], created)
    return list(groups.values())


async def upsert_rollups(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    if not rows:
        return
    dialect = session.bind.dialect.name
    builder = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = builder(UsageDaily)
    table = UsageDaily.__table__
    changes: dict[str, Any] = {
        name: table.c[name] + statement.excluded[name] for name in ROLLUP_SUMS
    }
    changes["last_at"] = statement.excluded.last_at
    statement = statement.on_conflict_do_update(index_elements=list(ROLLUP_KEY), set_=changes)
    # one statement per row keeps the upsert portable; rows per batch are few (grouped)
    for row in rows:
        await session.execute(statement.values(**row))


async def write_batch(session: AsyncSession, records: list[dict[str, Any]]) -> None:
    """Insert records and add them to the roll-ups, in the caller's transaction."""
    # Core executemany: the ORM's bulk path costs far more per row on the event loop
    await session.execute(insert(UsageRecord.__table__), records)
    await upsert_rollups(session, rollup_rows(records))


def _sqlite_time(value: datetime) -> str:
    """A UTC time as SQLAlchemy stores it on SQLite (`UTCDateTime`: naive UTC, microseconds)."""
    if value.tzinfo is not UTC:
        value = value.astimezone(UTC)
    return (
        f"{value.year:04d}-{value.month:02d}-{value.day:02d} "
        f"{value.hour:02d}:{value.minute:02d}:{value.second:02d}.{value.microsecond:06d}"
    )


def _sqlite_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return _sqlite_time(value)
    if isinstance(value, date):
        return value.isoformat()
    return value


def write_batch_sqlite(connection: sqlite3.Connection, records: list[dict[str, Any]]) -> None:
    """`write_batch` on a sqlite3 connection (the writer's thread), in one transaction."""
    defaults = RECORD_DEFAULTS
    rows = [
        tuple(_sqlite_value(record.get(name, defaults.get(name))) for name in RECORD_COLUMNS)
        for record in records
    ]
    rollups = [
        tuple(_sqlite_value(row[name]) for name in ROLLUP_COLUMNS) for row in rollup_rows(records)
    ]

    def work() -> None:
        connection.executemany(SQLITE_INSERT, rows)
        connection.executemany(SQLITE_UPSERT, rollups)

    write_transaction(connection, work)


class UsageWriter:
    """Usage records queued by the gateway, written in batches with their roll-ups."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        every_seconds: float,
        *,
        database_url: str = "",
        synchronous: str = "NORMAL",
    ) -> None:
        self.sessions = sessions
        self.batches: BatchWriter[dict[str, Any]] = BatchWriter(
            self._write_batch, every_seconds=every_seconds, max_batch=MAX_BATCH, log=log
        )
        path = sqlite_file(database_url) if database_url else None
        self.sqlite = (
            SqliteWorker(path, name="usage-writer", synchronous=synchronous) if path else None
        )
        self.add = self.batches.add
        self.pending = self.batches.queue
        # async hook(records) run after each batch is committed (billing's usage events)
        self.batch_hooks: list[Callable[[list[dict[str, Any]]], Awaitable[None]]] = []

    async def flush(self) -> int:
        return await self.batches.flush()

    def start(self) -> None:
        self.batches.start()

    async def stop(self) -> None:
        try:
            await self.batches.stop()
        finally:
            if self.sqlite is not None:
                self.sqlite.close()

    async def _write_batch(self, batch: list[dict[str, Any]]) -> None:
        try:
            await self._write(batch)
        except Exception:
            # a key or provider deleted since the call: keep the record, drop the link
            log.warning("usage batch failed; retrying without key/provider links", exc_info=True)
            for record in batch:
                for name in FOREIGN_IDS:
                    record[name] = None
            await self._write(batch)
        for hook in self.batch_hooks:
            try:
                await hook(batch)
            except Exception:
                log.exception("a usage batch hook failed; the usage records are kept")

    async def _write(self, batch: list[dict[str, Any]]) -> None:
        if self.sqlite is not None:
            await self.sqlite.call(write_batch_sqlite, batch)
            return
        async with self.sessions() as session:
            await write_batch(session, batch)
            await session.commit()


async def rebuild_rollups(session: AsyncSession) -> int:
    """Recompute the daily roll-ups from the records (after a bulk import); returns rows."""
    record = UsageRecord.__table__
    if session.bind.dialect.name == "postgresql":
        day = cast(func.timezone("UTC", record.c.created_at), Date)
    else:
        day = func.date(record.c.created_at)
    grouped = select(
        day.label("day"),
        record.c.user_id,
        record.c.model,
        record.c.provider,
        func.count().label("calls"),
        func.sum(case((record.c.status != "ok", 1), else_=0)).label("errors"),
        func.sum(record.c.prompt_tokens).label("prompt_tokens"),
        func.sum(record.c.completion_tokens).label("completion_tokens"),
        func.sum(record.c.cost_usd).label("cost_usd"),
        func.sum(record.c.latency_ms).label("latency_ms_sum"),
        func.max(record.c.created_at).label("last_at"),
    ).group_by(day, record.c.user_id, record.c.model, record.c.provider)
    await session.execute(delete(UsageDaily))
    columns = [
        "day",
        "user_id",
        "model",
        "provider",
        "calls",
        "errors",
        "prompt_tokens",
        "completion_tokens",
        "cost_usd",
        "latency_ms_sum",
        "last_at",
    ]
    await session.execute(insert(UsageDaily).from_select(columns, grouped))
    return int(await session.scalar(select(func.count()).select_from(UsageDaily)) or 0)
