"""Reading the audit log: filtered keyset pages, chain verification and retention."""

import asyncio
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from atrium.auditlog.chain import CHAINED, Chainer
from atrium.auditlog.errors import AuditLogOutOfReach
from atrium.auditlog.tables import (
    BUCKETS,
    AuditChainHead,
    AuditLogEntry,
    RequestActorDaily,
    RequestHourly,
)
from atrium.auditlog.writer import HEAD_ID
from atrium.auth.principal import Principal

VERIFY_CHUNK = 10_000


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


def _broken(row_id: int, reason: str, checked: int) -> dict[str, Any]:
    return {"valid": False, "checked": checked, "first_broken_id": row_id, "reason": reason}


async def verify(session: AsyncSession, chainer: Chainer) -> dict[str, Any]:
    """Walk the chain oldest first in chunks; name the first row that does not fit."""
    head = await session.get(AuditChainHead, HEAD_ID)
    if head is None:
        return {"valid": False, "checked": 0, "first_broken_id": None, "reason": "no chain head"}
    columns = [getattr(AuditLogEntry, name) for name in ("id", "prev_hash", "hash")]
    chained = [getattr(AuditLogEntry, name) for name in CHAINED]
    expected_prev, last_id, checked, first_id = head.anchor_hash, 0, 0, None
    while True:
        result = await session.execute(
            select(*columns, *chained)
            .where(AuditLogEntry.id > last_id, AuditLogEntry.id <= head.last_id)
            .order_by(AuditLogEntry.id)
            .limit(VERIFY_CHUNK)
        )
        rows = result.mappings().all()
        if not rows:
            break
        for row in rows:
            first_id = first_id or row["id"]
            if row["prev_hash"] != expected_prev:
                reason = "does not follow the row before it (a row was removed or reordered)"
                return _broken(row["id"], reason, checked)
            if chainer.digest(expected_prev, row) != row["hash"]:
                return _broken(row["id"], "its content does not match its hash", checked)
            expected_prev = row["hash"]
            checked += 1
        last_id = rows[-1]["id"]
        await asyncio.sleep(0)  # let requests through between chunks
    if expected_prev != head.last_hash:
        reason = "the newest rows are missing: the chain ends before the recorded head"
        return _broken(last_id or head.last_id, reason, checked)
    return {
        "valid": True,
        "checked": checked,
        "first_id": first_id,
        "last_id": last_id or None,
        "first_broken_id": None,
        "reason": None,
    }


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


def _histogram_sums() -> list[Any]:
    return [func.coalesce(func.sum(getattr(RequestHourly, name)), 0) for name in BUCKETS]


async def traffic(session: AsyncSession, since: datetime, *, top: int = 10) -> dict[str, Any]:
    """Request figures since `since` (whole hours) from the hourly roll-up, never the rows."""
    hour = since.replace(minute=0, second=0, microsecond=0)
    window = RequestHourly.hour >= hour
    totals = (
        await session.execute(
            select(
                func.coalesce(func.sum(RequestHourly.requests), 0),
                func.coalesce(func.sum(RequestHourly.client_errors), 0),
                func.coalesce(func.sum(RequestHourly.server_errors), 0),
                func.coalesce(func.sum(RequestHourly.latency_ms_sum), 0.0),
                *_histogram_sums(),
            ).where(window)
        )
    ).one()
    hourly = await session.execute(
        select(RequestHourly.hour, func.sum(RequestHourly.requests))
        .where(window)
        .group_by(RequestHourly.hour)
    )
    per_day: dict[str, int] = {}
    for moment, count in hourly.tuples():
        day = moment.date().isoformat()
        per_day[day] = per_day.get(day, 0) + int(count)
    requests_sum = func.sum(RequestHourly.requests)
    routes = await session.execute(
        select(
            RequestHourly.method,
            RequestHourly.route,
            requests_sum,
            func.sum(RequestHourly.server_errors),
            func.sum(RequestHourly.latency_ms_sum),
        )
        .where(window)
        .group_by(RequestHourly.method, RequestHourly.route)
        .order_by(requests_sum.desc(), RequestHourly.route)
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
