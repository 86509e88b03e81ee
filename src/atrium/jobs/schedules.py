"""Periodic jobs stored in the database, fired once per due time across every process.

Domains declare theirs at import (`schedule("billing.invoicing", kind=..., every_seconds=3600)`
or `cron="0 3 * * *"`); each engine writes the declarations into `job_schedule` at start-up.
Whichever process first moves a schedule's `next_run_at` from the due time it read (a
conditional update) enqueues the job in the same transaction; the others' updates match no row.
"""

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from croniter import croniter
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from atrium.db import utcnow
from atrium.jobs.errors import UnknownJobKind
from atrium.jobs.outbox import begin_write
from atrium.jobs.tables import JobSchedule


@dataclass(frozen=True)
class ScheduleSpec:
    name: str
    kind: str
    every_seconds: int | None = None
    cron: str | None = None
    payload: dict[str, Any] = field(default_factory=dict)


_DECLARED: dict[str, ScheduleSpec] = {}


def validate(every_seconds: int | None, cron: str | None) -> None:
    if (every_seconds is None) == (cron is None):
        raise ValueError("give exactly one of every_seconds or cron")
    if every_seconds is not None and every_seconds < 1:
        raise ValueError("every_seconds must be at least 1")
    if cron is not None and not croniter.is_valid(cron):
        raise ValueError(f"not a cron expression: {cron!r}")


def schedule(
    name: str,
    *,
    kind: str,
    every_seconds: int | None = None,
    cron: str | None = None,
    payload: dict[str, Any] | None = None,
) -> ScheduleSpec:
    """Declare a periodic job (stored in the database when an engine starts)."""
    validate(every_seconds, cron)
    spec = ScheduleSpec(name, kind, every_seconds, cron, payload or {})
    _DECLARED[name] = spec
    return spec


def forget(name: str) -> None:
    """Withdraw a declaration (a schedule turned off by a setting); its row is disabled."""
    _DECLARED.pop(name, None)


def declared() -> dict[str, ScheduleSpec]:
    return dict(_DECLARED)


def next_after(row_or_spec: Any, after: datetime) -> datetime:
    if row_or_spec.cron:
        return croniter(row_or_spec.cron, after.astimezone(UTC)).get_next(datetime)
    return after + timedelta(seconds=row_or_spec.every_seconds)


async def upsert(session: AsyncSession, spec: ScheduleSpec) -> JobSchedule:
    """Store a schedule; a changed period restarts its clock, an unchanged one keeps it."""
    row = await session.scalar(select(JobSchedule).where(JobSchedule.name == spec.name))
    now = utcnow()
    if row is None:
        row = JobSchedule(
            name=spec.name,
            kind=spec.kind,
            payload=spec.payload,
            every_seconds=spec.every_seconds,
            cron=spec.cron,
            enabled=True,
            next_run_at=next_after(spec, now),
            created_at=now,
            updated_at=now,
        )
        session.add(row)
    elif (row.kind, row.every_seconds, row.cron, row.payload, row.enabled) != (
        spec.kind,
        spec.every_seconds,
        spec.cron,
        spec.payload,
        True,
    ):
        row.kind, row.payload, row.enabled = spec.kind, spec.payload, True
        row.every_seconds, row.cron = spec.every_seconds, spec.cron
        row.next_run_at = next_after(spec, now)
        row.updated_at = now
    await session.flush()
    return row


async def sync(session: AsyncSession) -> None:
    """Write every declared schedule into the database (each engine, at start-up) and
    disable the rows of schedules no longer declared."""
    for spec in _DECLARED.values():
        await upsert(session, spec)
    await session.execute(
        update(JobSchedule)
        .where(JobSchedule.name.not_in(list(_DECLARED)), JobSchedule.enabled.is_(True))
        .values(enabled=False, updated_at=utcnow())
    )


async def fire_due(sessions: async_sessionmaker[AsyncSession], engine: Any) -> int:
    """Enqueue the job of every due schedule this process wins; returns how many."""
    from atrium.jobs import service as jobs_service

    now = utcnow()
    fired = 0
    async with sessions() as session:
        due = list(
            await session.execute(
                select(JobSchedule.id, JobSchedule.next_run_at).where(
                    JobSchedule.enabled.is_(True), JobSchedule.next_run_at <= now
                )
            )
        )
    for schedule_id, due_at in due:
        async with sessions() as session:
            row = await session.get(JobSchedule, schedule_id)
            if row is None:
                continue
            following = next_after(row, due_at)
            while following <= now:  # missed periods (all processes down) fire once
                following = next_after(row, following)
            await begin_write(session)
            claimed = await session.execute(
                update(JobSchedule)
                .where(JobSchedule.id == schedule_id, JobSchedule.next_run_at == due_at)
                .values(next_run_at=following, last_run_at=now, updated_at=now)
                .execution_options(synchronize_session=False)
            )
            if claimed.rowcount != 1:
                await session.rollback()
                continue
            try:
                job = await jobs_service.enqueue(
                    session, kind=row.kind, owner_id=None, payload=dict(row.payload)
                )
            except UnknownJobKind:  # declared by a domain this process does not load
                await session.rollback()
                continue
            await session.execute(
                update(JobSchedule)
                .where(JobSchedule.id == schedule_id)
                .values(last_job_id=job.id)
                .execution_options(synchronize_session=False)
            )
            await session.commit()
            fired += 1
        await engine.dispatch(job.id, kind=job.kind)
    return fired
