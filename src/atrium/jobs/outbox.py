"""Job events as rows written with the change they describe, announced after the commit.

Each status or progress change bumps the job's `event_seq` and writes a `job_event` row in the
same transaction (the outbox); once it commits, the bus wakes the listeners of three topics:
`job:{id}` (the job's streams), `user:{owner}` (the owner's `/ws/events`) and `jobs` (every
job's events, for the sockets of callers whose reach covers other users' jobs). The rows are
the truth; a message on the bus is only a hint that new rows exist.
"""

import logging
from dataclasses import dataclass
from functools import cache
from typing import Any

from sqlalchemy import ColumnElement, insert, text, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from atrium.db import utcnow
from atrium.jobs import metrics
from atrium.jobs.tables import Job, JobEvent

log = logging.getLogger("atrium.jobs")
# Core statements on the table: the ORM's bulk-update path costs several times more per call
JOB = Job.__table__
COLUMNS = JOB.c
ALL_JOBS_TOPIC = "jobs"


@dataclass(frozen=True, slots=True)
class Published:
    """An event written in a transaction, to announce on the bus once it commits."""

    job_id: int
    owner_id: int | None
    kind: str
    seq: int
    type: str
    data: dict[str, Any]


async def begin_write(target: AsyncSession | AsyncConnection) -> None:
    """On SQLite, take the write lock first (BEGIN IMMEDIATE): a deferred transaction that
    meets another writer would keep a stale snapshot and could never commit."""
    bind = target if isinstance(target, AsyncConnection) else target.bind
    if bind.dialect.name == "sqlite":
        await target.execute(text("BEGIN IMMEDIATE"))


@cache
def _returning() -> tuple[Any, ...]:
    c = COLUMNS
    return c.event_seq, c.owner_id, c.kind, c.status, c.progress, c.stage


async def transition(
    session: AsyncSession | AsyncConnection,
    job_id: int,
    where: list[ColumnElement[bool]],
    values: dict[str, Any],
    event_type: str,
    extra: dict[str, Any] | None = None,
) -> Published | None:
    """Conditionally update one job and bump its event sequence; the event to write, or None
    when the row no longer matches `where`."""
    statement = (
        update(JOB)
        .where(COLUMNS.id == job_id, *where)
        .values(**values, event_seq=COLUMNS.event_seq + 1, updated_at=utcnow())
        .returning(*_returning())
    )
    row = (await session.execute(statement)).first()
    if row is None:
        return None
    seq, owner_id, kind, status, progress, stage = row
    data = {"status": status, "progress": progress, "stage": stage, **(extra or {})}
    if "status" in values:
        metrics.record(kind, status)
    return Published(job_id, owner_id, kind, seq, event_type, data)


def event_row(event: Published) -> dict[str, Any]:
    return {
        "job_id": event.job_id,
        "seq": event.seq,
        "type": event.type,
        "data": event.data,
        "created_at": utcnow(),
    }


async def write_transition(
    session: AsyncSession | AsyncConnection,
    job_id: int,
    where: list[ColumnElement[bool]],
    values: dict[str, Any],
    event_type: str,
    extra: dict[str, Any] | None = None,
) -> Published | None:
    """`transition`, with its event row written in the same transaction."""
    event = await transition(session, job_id, where, values, event_type, extra)
    if event is not None:
        await session.execute(insert(JobEvent.__table__).values(**event_row(event)))
    return event


def messages(event: Published) -> list[tuple[str, dict[str, Any]]]:
    """(topic, message) pairs announcing `event`."""
    hint = {"job_id": event.job_id, "seq": event.seq, "type": event.type}
    described = {**hint, "kind": event.kind, "data": event.data}
    found = [
        (f"job:{event.job_id}", hint),
        (ALL_JOBS_TOPIC, {**described, "owner_id": event.owner_id}),
    ]
    if event.owner_id is not None:
        found.append((f"user:{event.owner_id}", described))
    return found


async def publish(bus: Any, events: list[Published]) -> None:
    if not events:
        return
    pairs = [pair for event in events for pair in messages(event)]
    try:
        await bus.publish_many(pairs)
    except Exception:  # the rows are written; a listener catches up on its next poll
        log.warning("bus publish failed", exc_info=True)
