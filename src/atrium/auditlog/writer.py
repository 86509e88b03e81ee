"""The audit log writer: the middleware queues a tuple per request (no await, no I/O); a
background task appends the queue to the chain in batches, with the roll-ups."""

import asyncio
import logging
import time
from bisect import bisect_left
from collections import deque
from collections.abc import Iterable
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from atrium.auditlog.chain import Chainer, moment
from atrium.auditlog.tables import (
    BUCKETS,
    LATENCY_BOUNDS_MS,
    AuditChainHead,
    AuditLogEntry,
    RequestActorDaily,
    RequestDaily,
    RequestHourly,
)
from atrium.db import utcnow

log = logging.getLogger("atrium.auditlog")
HEAD_ID = 1
MAX_BATCH = 5000


def bucket_of(latency_ms: float) -> str:
    return BUCKETS[bisect_left(LATENCY_BOUNDS_MS, latency_ms)]


HOUR_US = 3_600_000_000
DAY_US = 24 * HOUR_US


def hourly_rows(rows: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    groups: dict[tuple, dict[str, Any]] = {}
    for row in rows:
        key = (row["us"] // HOUR_US, row["method"], row["route"] or "(unmatched)")
        group = groups.get(key)
        if group is None:
            group = groups[key] = {"hour": moment(key[0] * HOUR_US), "method": key[1]}
            group.update(route=key[2], requests=0, client_errors=0, server_errors=0)
            group["latency_ms_sum"] = 0.0
            group.update({name: 0 for name in BUCKETS})
        group["requests"] += 1
        status = row["status"]
        if status >= 400:
            group["client_errors" if status < 500 else "server_errors"] += 1
        group["latency_ms_sum"] += row["latency_ms"]
        group[bucket_of(row["latency_ms"])] += 1
    return list(groups.values())


def daily_rows(hourly: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The hourly groups summed per UTC day."""
    groups: dict[tuple, dict[str, Any]] = {}
    for row in hourly:
        key = (row["hour"].date(), row["method"], row["route"])
        group = groups.get(key)
        if group is None:
            group = groups[key] = {"day": key[0], **{k: v for k, v in row.items() if k != "hour"}}
            continue
        for name, value in row.items():
            if name not in ("hour", "method", "route"):
                group[name] += value
    return list(groups.values())


def actor_rows(rows: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    groups: dict[tuple, dict[str, Any]] = {}
    for row in rows:
        if row["actor"] is None:
            continue
        key = (row["us"] // DAY_US, row["actor"])
        group = groups.get(key)
        if group is None:
            day = moment(key[0] * DAY_US).date()
            group = groups[key] = {"day": day, "actor": key[1], "requests": 0}
        group["requests"] += 1
    return list(groups.values())


COLUMNS = (
    "created_at",
    "user_id",
    "actor",
    "key_id",
    "key_prefix",
    "method",
    "route",
    "path",
    "status",
    "latency_ms",
    "client",
    "user_agent",
    "request_id",
    "prev_hash",
    "hash",
)
SQLITE_INSERT = (
    f"INSERT INTO audit_log ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})"
)


class SqliteTimes:
    """SQLite's stored form of a UTC time ('YYYY-MM-DD HH:MM:SS.ffffff', as the ORM writes
    it), formatted once per second."""

    def __init__(self) -> None:
        self.seconds: dict[int, str] = {}

    def __call__(self, us: int) -> str:
        second, fraction = divmod(us, 1_000_000)
        prefix = self.seconds.get(second)
        if prefix is None:
            if len(self.seconds) > 10_000:
                self.seconds.clear()
            prefix = self.seconds[second] = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(second))
        return f"{prefix}.{fraction:06d}"


_sqlite_time = SqliteTimes()


async def _insert(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    if session.bind.dialect.name == "sqlite":
        # straight to the driver: the ORM's per-value bind processing costs more than the row
        names = COLUMNS[1:]
        values = [(_sqlite_time(row["us"]), *[row[name] for name in names]) for row in rows]
        connection = await session.connection()
        await connection.exec_driver_sql(SQLITE_INSERT, values)
        return
    for row in rows:
        row["created_at"] = moment(row["us"])
    columns = AuditLogEntry.__table__.c
    await session.execute(
        insert(AuditLogEntry.__table__),
        [{name: row[name] for name in COLUMNS if name in columns} for row in rows],
    )


async def _upsert(session: AsyncSession, table: Any, keys: list[str], rows: list[dict]) -> None:
    if not rows:
        return
    builder = postgresql.insert if session.bind.dialect.name == "postgresql" else sqlite.insert
    statement = builder(table)
    sums = [name for name in rows[0] if name not in keys]
    statement = statement.on_conflict_do_update(
        index_elements=keys,
        set_={name: table.c[name] + statement.excluded[name] for name in sums},
    )
    for row in rows:
        await session.execute(statement.values(**row))


async def append(session: AsyncSession, chainer: Chainer, rows: list[dict[str, Any]]) -> None:
    """Chain `rows` after the current head and insert them, in the caller's transaction."""
    head = AuditChainHead.__table__
    # a write first: it takes the row lock (PostgreSQL) or the write lock (SQLite), so the
    # head read next is the latest committed one and no other writer can fork the chain
    await session.execute(update(head).where(head.c.id == HEAD_ID).values(updated_at=utcnow()))
    prev = await session.scalar(select(head.c.last_hash).where(head.c.id == HEAD_ID))
    for row in rows:
        row["prev_hash"] = prev
        row["hash"] = prev = chainer.digest(prev, row)
    await _insert(session, rows)
    last_id = await session.scalar(select(func.max(AuditLogEntry.id)))
    await session.execute(
        update(head).where(head.c.id == HEAD_ID).values(last_id=last_id, last_hash=prev)
    )
    hourly = hourly_rows(rows)
    await _upsert(session, RequestHourly.__table__, ["hour", "method", "route"], hourly)
    await _upsert(session, RequestDaily.__table__, ["day", "method", "route"], daily_rows(hourly))
    await _upsert(session, RequestActorDaily.__table__, ["day", "actor"], actor_rows(rows))


class RequestStats:
    """Per-process request counts and latency histograms by route template, updated from the
    written batches (so metrics cost the request nothing either)."""

    def __init__(self) -> None:
        self.counts: dict[tuple[str, str, int], int] = {}
        self.latency: dict[tuple[str, str], list[float]] = {}  # buckets..., sum

    def add(self, rows: list[dict[str, Any]]) -> None:
        width = len(BUCKETS)
        for row in rows:
            route = row["route"] or "(unmatched)"
            key = (row["method"], route, row["status"])
            self.counts[key] = self.counts.get(key, 0) + 1
            histogram = self.latency.get(key[:2])
            if histogram is None:
                histogram = self.latency[key[:2]] = [0.0] * (width + 1)
            histogram[BUCKETS.index(bucket_of(row["latency_ms"]))] += 1
            histogram[width] += row["latency_ms"]


class AuditLogWriter:
    """`queue` is what the middleware appends to; `flush` writes it, `run` flushes on a timer."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        chainer: Chainer,
        every_seconds: float = 1.0,
    ) -> None:
        self.sessions = sessions
        self.chainer = chainer
        self.every_seconds = every_seconds
        # entries built by `middleware._audit_entry`: plain values only
        self.queue: deque[tuple] = deque()
        self.lock = asyncio.Lock()
        self.task: asyncio.Task | None = None
        self.written = 0
        self.failures = 0
        self.stats = RequestStats()

    @property
    def depth(self) -> int:
        return len(self.queue)

    async def flush(self) -> int:
        """Write everything queued so far; returns the number of rows written."""
        total = 0
        async with self.lock:
            while self.queue:
                count = min(len(self.queue), MAX_BATCH)
                entries = [self.queue.popleft() for _ in range(count)]
                rows = [self.chainer.row(entry) for entry in entries]
                try:
                    await self._write(rows)
                except Exception:
                    # keep the requests for the next attempt, in their order
                    self.failures += 1
                    self.queue.extendleft(reversed(entries))
                    raise
                self.stats.add(rows)
                total += count
        self.written += total
        return total

    async def _write(self, rows: list[dict[str, Any]]) -> None:
        try:
            async with self.sessions() as session:
                await append(session, self.chainer, rows)
                await session.commit()
        except IntegrityError:
            # a user deleted since their request: keep the rows, anonymised as deletion does
            log.warning("audit batch refused; writing it without user links", exc_info=True)
            for row in rows:
                row["user_id"] = None
            async with self.sessions() as session:
                await append(session, self.chainer, rows)
                await session.commit()

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self.every_seconds)
            try:
                await self.flush()
            except Exception:
                log.exception("could not write the audit log; will retry")

    def start(self) -> None:
        if self.task is None:
            self.task = asyncio.get_running_loop().create_task(self.run())

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            self.task = None
        await self.flush()
