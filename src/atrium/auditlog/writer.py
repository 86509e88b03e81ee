"""The audit log writer: the middleware queues a tuple of plain values per request (no await,
no I/O, no formatting); a background task appends the queue to the chain in batches, with the
roll-ups.

The batch work runs off the event loop. On SQLite the whole append (encoding, hashing, insert,
roll-ups, commit) runs in one worker thread on its own connection to the database file: the
driver releases the GIL while SQLite works, and a lock held by a request transaction is waited
for there, not on the loop. On PostgreSQL the encoding runs in that thread and the statements go
through asyncpg on the loop.
"""

import asyncio
import functools
import logging
import sqlite3
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from sqlalchemy import Connection, func, insert, select, update
from sqlalchemy.dialects import postgresql
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from atrium.auditlog.batch import (
    DAY_US,
    FIGURES,
    HOUR_US,
    WIDTH,
    Batch,
    RequestStats,
    encode,
)
from atrium.auditlog.chain import COLUMNS, Chainer, SqliteTimes, micros, moment
from atrium.auditlog.sqlite_thread import SqliteThread, sqlite_file_of
from atrium.auditlog.tables import (
    AuditChainHead,
    AuditLogEntry,
    RequestActorDaily,
    RequestDaily,
    RequestHourly,
)
from atrium.batching import BatchWriter
from atrium.db import utcnow

log = logging.getLogger("atrium.auditlog")
HEAD_ID = 1
MAX_BATCH = 5000
# rows per INSERT on SQLite: one statement of many rows costs less per row than executemany's
# one execution per row; 50 rows are 750 parameters, under every SQLite build's limit
ROWS_PER_INSERT = 50
# SQLite's side of `append`, straight to the driver: SQLAlchemy's statement building and
# per-value bind processing cost more per batch than a thousand rows do
HEAD_LOCK_SQL = "UPDATE audit_chain_head SET updated_at = ? WHERE id = ? RETURNING last_hash"
HEAD_MOVE_SQL = "UPDATE audit_chain_head SET last_id = ?, last_hash = ? WHERE id = ?"


def _upsert_sql(table: str, keys: tuple[str, ...], sums: tuple[str, ...]) -> str:
    columns = (*keys, *sums)
    added = ", ".join(f"{name} = {name} + excluded.{name}" for name in sums)
    return (
        f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))}) "
        f"ON CONFLICT ({', '.join(keys)}) DO UPDATE SET {added}"
    )


HOURLY_SQL = _upsert_sql("request_hourly", ("hour", "method", "route"), FIGURES)
DAILY_SQL = _upsert_sql("request_daily", ("day", "method", "route"), FIGURES)
ACTORS_SQL = _upsert_sql("request_actor_daily", ("day", "actor"), ("requests",))


@functools.cache
def _insert_sql(rows: int) -> str:
    row = f"({', '.join('?' * WIDTH)})"
    return f"INSERT INTO audit_log ({', '.join(COLUMNS)}) VALUES {', '.join([row] * rows)}"


def _day_text(day: int) -> str:
    return moment(day * DAY_US).date().isoformat()


def _append_sqlite(driver: sqlite3.Connection, chainer: Chainer, batch: Batch) -> None:
    times = _sqlite_time
    cursor = driver.cursor()
    try:
        now = times.text(micros(utcnow()))
        (prev,) = cursor.execute(HEAD_LOCK_SQL, (now, HEAD_ID)).fetchall()[0]
        last_hash = batch.link(chainer, prev)
        values, step = batch.values, WIDTH * ROWS_PER_INSERT
        for start in range(0, len(values), step):
            chunk = values[start : start + step]
            cursor.execute(_insert_sql(len(chunk) // WIDTH), chunk)
        cursor.execute(HEAD_MOVE_SQL, (cursor.lastrowid, last_hash, HEAD_ID))
        hourly = [
            (times.text(hour * HOUR_US), method, route, *figures)
            for (hour, method, route), figures in batch.figures(daily=False).items()
        ]
        daily = [
            (_day_text(day), method, route, *figures)
            for (day, method, route), figures in batch.figures(daily=True).items()
        ]
        actors = [(_day_text(day), actor, count) for (day, actor), count in batch.actors.items()]
        cursor.executemany(HOURLY_SQL, hourly)
        cursor.executemany(DAILY_SQL, daily)
        cursor.executemany(ACTORS_SQL, actors)
    finally:
        cursor.close()


def _upsert(connection: Connection, table: Any, keys: list[str], rows: list[dict]) -> None:
    if not rows:
        return
    statement = postgresql.insert(table)
    sums = [name for name in rows[0] if name not in keys]
    statement = statement.on_conflict_do_update(
        index_elements=keys,
        set_={name: table.c[name] + statement.excluded[name] for name in sums},
    )
    connection.execute(statement, rows)


def append(connection: Connection, chainer: Chainer, batch: Batch) -> None:
    """Chain `batch` after the current head and insert it with its roll-ups, in the caller's
    transaction (a sync connection: the SQLite thread's, or run_sync's on PostgreSQL). The
    first statement writes the head row: it takes the row lock (PostgreSQL) or the write lock
    (SQLite), so the head read with it is the latest committed one and no other writer can
    fork the chain."""
    if not batch:
        return
    if connection.dialect.name == "sqlite":
        _append_sqlite(connection.connection.driver_connection, chainer, batch)
        return
    head = AuditChainHead.__table__
    prev = connection.scalar(
        update(head)
        .where(head.c.id == HEAD_ID)
        .values(updated_at=utcnow())
        .returning(head.c.last_hash)
    )
    last_hash = batch.link(chainer, prev)
    rows = [dict(zip(COLUMNS, row, strict=True)) for row in batch.rows()]
    connection.execute(insert(AuditLogEntry.__table__), rows)
    last_id = connection.scalar(select(func.max(AuditLogEntry.id)))
    connection.execute(
        update(head).where(head.c.id == HEAD_ID).values(last_id=last_id, last_hash=last_hash)
    )
    _upsert(connection, RequestHourly.__table__, ["hour", "method", "route"], batch.hourly_rows())
    _upsert(connection, RequestDaily.__table__, ["day", "method", "route"], batch.daily_rows())
    _upsert(connection, RequestActorDaily.__table__, ["day", "actor"], batch.actor_rows())


class AuditLogWriter:
    """`queue` is what the middleware appends to; `flush` writes it, the task every
    `every_seconds`; `stop` ends the task and writes what is left."""

    def __init__(self, engine: AsyncEngine, chainer: Chainer, every_seconds: float = 1.0) -> None:
        self.engine = engine
        self.chainer = chainer
        self.batches: BatchWriter[tuple] = BatchWriter(
            self._write, every_seconds=every_seconds, max_batch=MAX_BATCH, log=log
        )
        self.queue = self.batches.queue
        self.stats = RequestStats()
        path = sqlite_file_of(engine)
        self.sqlite = SqliteThread(path, name="audit-log") if path else None
        # the PostgreSQL path's encoding thread
        self.encoder = None if self.sqlite else ThreadPoolExecutor(1, "audit-log-encode")

    @property
    def depth(self) -> int:
        return self.batches.depth

    @property
    def written(self) -> int:
        return self.batches.written

    @property
    def failures(self) -> int:
        return self.batches.failures

    @property
    def task(self) -> asyncio.Task | None:
        return self.batches.task

    async def flush(self) -> int:
        """Write everything queued so far; returns the number of rows written."""
        return await self.batches.flush()

    def start(self) -> None:
        self.batches.start()

    async def stop(self) -> None:
        try:
            await self.batches.stop()
        finally:
            if self.sqlite is not None:
                self.sqlite.close()
            if self.encoder is not None:
                self.encoder.shutdown(wait=False)

    async def _write(self, entries: list[tuple]) -> None:
        if self.sqlite is not None:
            batch = await self.sqlite.call(self._append_sqlite, entries)
        else:
            loop = asyncio.get_running_loop()
            batch = await loop.run_in_executor(self.encoder, encode, self.chainer, entries, moment)
            batch = await self._append_async(batch)
        self.stats.add(batch)

    def _append_sqlite(self, connection: Connection, entries: list[tuple]) -> Batch:
        batch = encode(self.chainer, entries, _sqlite_time.text)
        try:
            with connection.begin():
                append(connection, self.chainer, batch)
        except (IntegrityError, sqlite3.IntegrityError):
            # a user deleted since their request: keep the rows, anonymised as deletion does
            log.warning("audit batch refused; writing it without user links", exc_info=True)
            batch = batch.without_users()
            with connection.begin():
                append(connection, self.chainer, batch)
        return batch

    async def _append_async(self, batch: Batch) -> Batch:
        try:
            async with self.engine.begin() as connection:
                await connection.run_sync(append, self.chainer, batch)
        except IntegrityError:
            log.warning("audit batch refused; writing it without user links", exc_info=True)
            batch = batch.without_users()
            async with self.engine.begin() as connection:
                await connection.run_sync(append, self.chainer, batch)
        return batch


_sqlite_time = SqliteTimes()
