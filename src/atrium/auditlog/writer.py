"""The audit log writer: the middleware queues a tuple per request (no await, no I/O); a
background task appends the queue to the chain in batches, with the roll-ups."""

import asyncio
import logging
from collections import deque
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from atrium.auditlog.chain import Chainer
from atrium.auditlog.tables import (
    BUCKETS,
    LATENCY_BOUNDS_MS,
    AuditChainHead,
    AuditLogEntry,
    RequestActorDaily,
    RequestHourly,
)
from atrium.db import utcnow

log = logging.getLogger("atrium.auditlog")
HEAD_ID = 1
MAX_BATCH = 5000


def bucket_of(latency_ms: float) -> str:
    for index, bound in enumerate(LATENCY_BOUNDS_MS):
        if latency_ms <= bound:
            return BUCKETS[index]
    return BUCKETS[-1]


def hourly_rows(rows: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    groups: dict[tuple, dict[str, Any]] = {}
    for row in rows:
        created: datetime = row["created_at"]
        hour = created.replace(minute=0, second=0, microsecond=0)
        key = (hour, row["method"], row["route"] or "(unmatched)")
        group = groups.get(key)
        if group is None:
            group = groups[key] = {"hour": hour, "method": key[1], "route": key[2]}
            group.update(requests=0, client_errors=0, server_errors=0, latency_ms_sum=0.0)
            group.update({name: 0 for name in BUCKETS})
        group["requests"] += 1
        group["client_errors"] += 400 <= row["status"] < 500
        group["server_errors"] += row["status"] >= 500
        group["latency_ms_sum"] += row["latency_ms"]
        group[bucket_of(row["latency_ms"])] += 1
    return list(groups.values())


def actor_rows(rows: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    groups: dict[tuple, dict[str, Any]] = {}
    for row in rows:
        if row["actor"] is None:
            continue
        key = (row["created_at"].date(), row["actor"])
        group = groups.setdefault(key, {"day": key[0], "actor": key[1], "requests": 0})
        group["requests"] += 1
    return list(groups.values())


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
    await session.execute(insert(AuditLogEntry.__table__), rows)
    last_id = await session.scalar(select(func.max(AuditLogEntry.id)))
    await session.execute(
        update(head).where(head.c.id == HEAD_ID).values(last_id=last_id, last_hash=prev)
    )
    await _upsert(session, RequestHourly.__table__, ["hour", "method", "route"], hourly_rows(rows))
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
        # (time, principal, method, route, path, query, status, ms, client, headers, request id)
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
