"""Reading the audit log: filtered keyset pages, chain verification and retention."""

import asyncio
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import Connection, Select, delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from atrium.auditlog.chain import CHAINED, Chainer, SqliteTimes, micros
from atrium.auditlog.errors import AuditLogOutOfReach
from atrium.auditlog.sqlite_thread import SqliteThread, sqlite_file_of
from atrium.auditlog.tables import (
    BUCKETS,
    AuditChainHead,
    AuditLogEntry,
    RequestActorDaily,
    RequestDaily,
    RequestHourly,
)
from atrium.auditlog.tables import LATENCY_BOUNDS_MS as LATENCY_BOUNDS_MS
from atrium.auditlog.writer import HEAD_ID
from atrium.auth.principal import Principal

VERIFY_CHUNK = 20_000


@dataclass(frozen=True, slots=True)
class AuditFilters:
    user_id: int | None = None
    path: str | None = None
    status: int | None = None
    status_class: int | None = None
    method: str | None = None
    key_prefix: str | None = None
    since: datetime | None = None
    until: datetime | None = None


def _filtered(statement: Select, principal: Principal, filters: AuditFilters) -> Select:
    entry = AuditLogEntry
    if not principal.reaches("logs", "read"):
        statement = statement.where(entry.user_id == principal.user_id)
    if filters.user_id is not None:
        statement = statement.where(entry.user_id == filters.user_id)
    if filters.path:
        escaped = filters.path.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        statement = statement.where(entry.path.like(f"{escaped}%", escape="\\"))
    if filters.status is not None:
        statement = statement.where(entry.status == filters.status)
    if filters.status_class is not None:
        low = filters.status_class * 100
        statement = statement.where(entry.status >= low, entry.status < low + 100)
    if filters.method:
        statement = statement.where(entry.method == filters.method.upper())
    if filters.key_prefix:
        statement = statement.where(entry.key_prefix == filters.key_prefix)
    if filters.since is not None:
        statement = statement.where(entry.created_at >= filters.since)
    if filters.until is not None:
        statement = statement.where(entry.created_at < filters.until)
    return statement


async def list_entries(
    session: AsyncSession,
    principal: Principal,
    filters: AuditFilters,
    *,
    limit: int,
    before_id: int | None = None,
) -> list[AuditLogEntry]:
    """Newest first; `before_id` continues after the last row of the previous page."""
    statement = _filtered(select(AuditLogEntry), principal, filters)
    if before_id is not None:
        statement = statement.where(AuditLogEntry.id < before_id)
    statement = statement.order_by(AuditLogEntry.id.desc()).limit(limit)
    return list((await session.scalars(statement)).all())


async def page(
    session: AsyncSession,
    principal: Principal,
    filters: AuditFilters,
    *,
    limit: int,
    offset: int,
) -> tuple[list[AuditLogEntry], int]:
    """An offset page and the filtered total (Vault's audit page counts its pages)."""
    statement = _filtered(select(AuditLogEntry), principal, filters)
    rows = await session.scalars(
        statement.order_by(AuditLogEntry.id.desc()).limit(limit).offset(offset)
    )
    total = await session.scalar(
        _filtered(select(func.count()).select_from(AuditLogEntry), principal, filters)
    )
    return list(rows.all()), int(total or 0)


def ensure_reach(principal: Principal) -> None:
    if not principal.reaches("logs", "read"):
        raise AuditLogOutOfReach()


COLUMNS_WALKED = ("id", "prev_hash", "hash", *CHAINED)
FOLLOW = "does not follow the row before it (a row was removed or reordered)"
CONTENT = "its content does not match its hash"
TRUNCATED = "the newest rows are missing: the chain ends before the recorded head"


class ChainWalk:
    """A walk over the chain, oldest first, fed rows of COLUMNS_WALKED in id order; stops at
    the first row that does not fit."""

    def __init__(self, chainer: Chainer, anchor: str, us_of: Callable[[Any], int]) -> None:
        self.chainer, self.expected_prev, self.us_of = chainer, anchor, us_of
        self.checked, self.first_id, self.last_id = 0, None, 0
        self.broken: tuple[int, str] | None = None

    def feed(self, rows: Iterable[Sequence]) -> bool:
        """Check `rows`; False once a row is broken. The hot loop of a verification: the
        chained fields are hashed here with everything bound locally."""
        mac, dumps, us_of = self.chainer.mac, orjson.dumps, self.us_of
        expected, checked = self.expected_prev, self.checked
        for row in rows:
            (row_id, prev_hash, row_hash, created_at, actor, key_id, key_prefix, method, route,
             path, status, latency, client, agent, rid) = row  # fmt: skip
            if prev_hash != expected:
                self.broken = (row_id, FOLLOW)
                break
            try:
                us = us_of(created_at)
            except (ValueError, TypeError):
                us = None  # a time edited into something unreadable: a mismatch below
            try:
                latency = f"{latency:.3f}"
            except (ValueError, TypeError):
                latency = None  # likewise
            payload = dumps([us, actor, key_id, key_prefix, method, route, path, status,
                             latency, client, agent, rid])  # fmt: skip
            if mac(expected, payload) != row_hash:
                self.broken = (row_id, CONTENT)
                break
            if self.first_id is None:
                self.first_id = row_id
            expected, self.last_id = row_hash, row_id
            checked += 1
        self.checked, self.expected_prev = checked, expected
        return self.broken is None

    def report(self, head_last_id: int, head_last_hash: str) -> dict[str, Any]:
        if self.broken is None and self.expected_prev != head_last_hash:
            self.broken = (self.last_id or head_last_id, TRUNCATED)
        if self.broken is not None:
            row_id, reason = self.broken
            return {
                "valid": False,
                "checked": self.checked,
                "first_broken_id": row_id,
                "reason": reason,
            }
        return {
            "valid": True,
            "checked": self.checked,
            "first_id": self.first_id,
            "last_id": self.last_id or None,
            "first_broken_id": None,
            "reason": None,
        }


NO_HEAD = {"valid": False, "checked": 0, "first_broken_id": None, "reason": "no chain head"}
HEAD_SQL = "SELECT last_id, last_hash, anchor_hash FROM audit_chain_head WHERE id = ?"
WALK_SQL = f"SELECT {', '.join(COLUMNS_WALKED)} FROM audit_log WHERE id <= ? ORDER BY id"


def _walk_sqlite(connection: Connection, chainer: Chainer) -> dict[str, Any]:
    """The whole walk on the SQLite thread's connection, in one read transaction (one
    snapshot), streaming the rows through the driver: no ORM objects, no type processing."""
    driver = connection.connection.driver_connection
    driver.execute("BEGIN")
    try:
        head = driver.execute(HEAD_SQL, (HEAD_ID,)).fetchone()
        if head is None:
            return NO_HEAD
        last_id, last_hash, anchor = head
        walk = ChainWalk(chainer, anchor, SqliteTimes().micros)
        cursor = driver.execute(WALK_SQL, (last_id,))
        while rows := cursor.fetchmany(VERIFY_CHUNK):
            if not walk.feed(rows):
                break
        cursor.close()
        return walk.report(last_id, last_hash)
    finally:
        driver.rollback()


async def _walk_async(session: AsyncSession, chainer: Chainer) -> dict[str, Any]:
    """Keyset chunks of plain column tuples; each chunk is hashed in a worker thread while
    the next one is fetched."""
    head = await session.get(AuditChainHead, HEAD_ID)
    if head is None:
        return NO_HEAD
    columns = [getattr(AuditLogEntry, name) for name in COLUMNS_WALKED]
    walk = ChainWalk(chainer, head.anchor_hash, micros)

    async def chunk_after(row_id: int) -> list:
        result = await session.execute(
            select(*columns)
            .where(AuditLogEntry.id > row_id, AuditLogEntry.id <= head.last_id)
            .order_by(AuditLogEntry.id)
            .limit(VERIFY_CHUNK)
        )
        return list(result.tuples())

    rows = await chunk_after(0)
    while rows:
        checking = asyncio.create_task(asyncio.to_thread(walk.feed, rows))
        following = await chunk_after(rows[-1][0]) if len(rows) == VERIFY_CHUNK else []
        if not await checking:
            break
        rows = following
    return walk.report(head.last_id, head.last_hash)


async def verify(session: AsyncSession, chainer: Chainer) -> dict[str, Any]:
    """Walk the chain oldest first; name the first row that does not fit."""
    path = sqlite_file_of(session.bind)
    if path is None:
        return await _walk_async(session, chainer)
    reader = SqliteThread(path, name="audit-verify", read_only=True)
    try:
        return await reader.call(_walk_sqlite, chainer)
    finally:
        await asyncio.to_thread(reader.close)


async def purge_older_than(session: AsyncSession, cutoff: datetime) -> int:
    """Delete rows older than `cutoff` (retention); the chain's anchor moves to the last one
    deleted so that verification still starts from a known hash."""
    boundary = await session.scalar(
        select(func.max(AuditLogEntry.id)).where(AuditLogEntry.created_at < cutoff)
    )
    if boundary is None:
        return 0
    anchor = await session.scalar(select(AuditLogEntry.hash).where(AuditLogEntry.id == boundary))
    result = await session.execute(delete(AuditLogEntry).where(AuditLogEntry.id <= boundary))
    await session.execute(
        update(AuditChainHead).where(AuditChainHead.id == HEAD_ID).values(anchor_hash=anchor)
    )
    return int(result.rowcount or 0)


def _window(since: datetime) -> tuple[Any, Any, Any]:
    """(table, its time column, the filter): hours for a day or less, else whole UTC days."""
    if datetime.now(since.tzinfo) - since <= timedelta(hours=25):
        hour = since.replace(minute=0, second=0, microsecond=0)
        return RequestHourly, RequestHourly.hour, RequestHourly.hour >= hour
    return RequestDaily, RequestDaily.day, RequestDaily.day >= since.date()


async def traffic(session: AsyncSession, since: datetime, *, top: int = 10) -> dict[str, Any]:
    """Request figures since `since` from the roll-ups, never the rows: whole hours for a
    range of a day or less, whole UTC days beyond."""
    table, column, window = _window(since)
    sums = [func.coalesce(func.sum(getattr(table, name)), 0) for name in BUCKETS]
    totals = (
        await session.execute(
            select(
                func.coalesce(func.sum(table.requests), 0),
                func.coalesce(func.sum(table.client_errors), 0),
                func.coalesce(func.sum(table.server_errors), 0),
                func.coalesce(func.sum(table.latency_ms_sum), 0.0),
                *sums,
            ).where(window)
        )
    ).one()
    by_time = await session.execute(
        select(column, func.sum(table.requests)).where(window).group_by(column)
    )
    per_day: dict[str, int] = {}
    for moment_, count in by_time.tuples():
        day = (moment_.date() if isinstance(moment_, datetime) else moment_).isoformat()
        per_day[day] = per_day.get(day, 0) + int(count)
    requests_sum = func.sum(table.requests)
    routes = await session.execute(
        select(
            table.method,
            table.route,
            requests_sum,
            func.sum(table.server_errors),
            func.sum(table.latency_ms_sum),
        )
        .where(window)
        .group_by(table.method, table.route)
        .order_by(requests_sum.desc(), table.route)
        .limit(top)
    )
    return {
        "requests": int(totals[0]),
        "client_errors": int(totals[1]),
        "server_errors": int(totals[2]),
        "latency_ms_sum": float(totals[3]),
        "histogram": [int(value) for value in totals[4:]],
        "per_day": per_day,
        "top_routes": [
            {
                "method": method,
                "route": route,
                "requests": int(count),
                "server_errors": int(errors),
                "latency_ms_sum": float(latency),
            }
            for method, route, count, errors, latency in routes.tuples()
        ],
    }


async def active_actors(session: AsyncSession, since: datetime) -> int:
    """Distinct signed-in callers since `since` (whole days), counted by pseudonym."""
    count = await session.scalar(
        select(func.count(func.distinct(RequestActorDaily.actor))).where(
            RequestActorDaily.day >= since.date()
        )
    )
    return int(count or 0)


async def requests_by_user(
    session: AsyncSession, since: datetime | None, until: datetime | None, top: int = 10
) -> list[tuple[int | None, int]]:
    """(user id, requests) of the busiest callers in a time range (reads the rows)."""
    count = func.count()
    statement = select(AuditLogEntry.user_id, count).where(AuditLogEntry.user_id.is_not(None))
    if since is not None:
        statement = statement.where(AuditLogEntry.created_at >= since)
    if until is not None:
        statement = statement.where(AuditLogEntry.created_at < until)
    rows = await session.execute(
        statement.group_by(AuditLogEntry.user_id).order_by(count.desc()).limit(top)
    )
    return [(user_id, int(n)) for user_id, n in rows.tuples()]


async def stream_entries(
    session: AsyncSession, principal: Principal, filters: AuditFilters, chunk: int = 1000
):
    """Every matching row, newest first, fetched in keyset chunks (exports)."""
    before_id = None
    while True:
        rows = await list_entries(session, principal, filters, limit=chunk, before_id=before_id)
        for row in rows:
            yield row
        if len(rows) < chunk:
            return
        before_id = rows[-1].id
