"""Row operations of the engine: claims, leases, progress, checkpoints, outcomes, events.

Every write that a process makes on a job it runs is conditional on its claim token
(`worker`), so a process that lost its lease can no longer change the row. Each status or
progress change bumps `event_seq` and writes a `job_event` row in the same transaction; the
bus is told only after the commit (the rows are the truth, the bus just wakes listeners).
"""

import logging
import os
import secrets
import socket
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from atrium.db import utcnow
from atrium.jobs import metrics
from atrium.jobs.runners import LeaseLost
from atrium.jobs.tables import Job, JobEvent

log = logging.getLogger("atrium.jobs")
TERMINAL = ("completed", "failed", "cancelled")
WAITING_STAGE = "waiting for a worker"


def new_token() -> str:
    return f"{socket.gethostname()[:60]}:{os.getpid()}:{secrets.token_hex(6)}"


@dataclass(frozen=True, slots=True)
class Published:
    """An event written in a transaction, to announce on the bus once it commits."""

    job_id: int
    owner_id: int | None
    kind: str
    seq: int
    type: str
    data: dict[str, Any]


@dataclass(frozen=True, slots=True)
class ClaimedJob:
    id: int
    kind: str
    owner_id: int | None
    payload: dict[str, Any]
    attempts: int
    checkpoint: Any
    control: str | None


def claimable(now: datetime, *, stale_before: datetime | None = None) -> ColumnElement[bool]:
    """Queued and due; or running without a live lease (crashed, or resumed and waiting).

    With `stale_before`, only queued jobs that have waited since before it (a lost message).
    """
    queued = and_(Job.status == "queued", or_(Job.run_after.is_(None), Job.run_after <= now))
    if stale_before is not None:
        queued = and_(queued, Job.updated_at < stale_before)
    orphaned = and_(Job.status == "running", or_(Job.lease_until.is_(None), Job.lease_until < now))
    return or_(queued, orphaned)


async def write_transition(
    session: AsyncSession,
    job_id: int,
    where: list[ColumnElement[bool]],
    values: dict[str, Any],
    event_type: str,
    extra: dict[str, Any] | None = None,
) -> Published | None:
    """Conditionally update one job, bump its event sequence and write the event row."""
    now = utcnow()
    statement = (
        update(Job)
        .where(Job.id == job_id, *where)
        .values(**values, event_seq=Job.event_seq + 1, updated_at=now)
        .returning(Job.event_seq, Job.owner_id, Job.kind, Job.status, Job.progress, Job.stage)
        .execution_options(synchronize_session=False)
    )
    row = (await session.execute(statement)).first()
    if row is None:
        return None
    seq, owner_id, kind, status, progress, stage = row
    data = {"status": status, "progress": progress, "stage": stage, **(extra or {})}
    await session.execute(
        insert(JobEvent).values(job_id=job_id, seq=seq, type=event_type, data=data, created_at=now)
    )
    if "status" in values:
        metrics.record(kind, status)
    return Published(job_id, owner_id, kind, seq, event_type, data)


async def publish(bus: Any, events: list[Published]) -> None:
    for event in events:
        message = {"job_id": event.job_id, "seq": event.seq, "type": event.type}
        try:
            await bus.publish(f"job:{event.job_id}", message)
            if event.owner_id is not None:
                await bus.publish(
                    f"user:{event.owner_id}", {**message, "kind": event.kind, "data": event.data}
                )
        except Exception:  # the rows are written; a listener catches up on its next poll
            log.warning("bus publish failed", exc_info=True)


class JobStore:
    """The writes one process makes on the jobs it has claimed, under its claim token."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        bus: Any,
        *,
        lease_seconds: float,
        token: str | None = None,
    ) -> None:
        self.sessions = sessions
        self.bus = bus
        self.lease = timedelta(seconds=lease_seconds)
        self.token = token or new_token()

    def _mine(self) -> ColumnElement[bool]:
        return and_(Job.status == "running", Job.worker == self.token)

    async def _commit_and_publish(self, session: AsyncSession, events: list[Published]) -> None:
        await session.commit()
        await publish(self.bus, events)

    async def claim(
        self,
        free: dict[str, int],
        *,
        job_ids: list[int] | None = None,
        stale_before: datetime | None = None,
    ) -> list[ClaimedJob]:
        """Claim up to `free[kind]` jobs of each kind (or exactly `job_ids`), oldest first."""
        now = utcnow()
        condition = claimable(now, stale_before=stale_before)
        async with self.sessions() as session:
            if job_ids is None:
                total = sum(free.values())
                rows = await session.execute(
                    select(Job.id, Job.kind)
                    .where(condition, Job.kind.in_(list(free)))
                    .order_by(Job.id)
                    .limit(total * 4)
                )
                left = dict(free)
                job_ids = []
                for job_id, kind in rows:
                    if left.get(kind, 0) > 0:
                        left[kind] -= 1
                        job_ids.append(job_id)
            if not job_ids:
                return []
            claimed = await self._claim_ids(session, job_ids, condition, now)
            await self._commit_and_publish(session, [event for _job, event in claimed])
        return [job for job, _event in claimed]

    async def _claim_ids(
        self,
        session: AsyncSession,
        job_ids: list[int],
        condition: ColumnElement[bool],
        now: datetime,
    ) -> list[tuple[ClaimedJob, Published]]:
        # one conditional UPDATE: a row another process claimed meanwhile no longer matches
        rows = await session.execute(
            update(Job)
            .where(Job.id.in_(job_ids), condition)
            .values(
                status="running",
                worker=self.token,
                lease_until=now + self.lease,
                attempts=Job.attempts + 1,
                started_at=func.coalesce(Job.started_at, now),
                stage=None,
                event_seq=Job.event_seq + 1,
                updated_at=now,
            )
            .returning(
                Job.id,
                Job.kind,
                Job.owner_id,
                Job.payload,
                Job.attempts,
                Job.checkpoint,
                Job.control,
                Job.event_seq,
                Job.progress,
            )
            .execution_options(synchronize_session=False)
        )
        claimed = []
        events = []
        for job_id, kind, owner, payload, attempts, checkpoint, control, seq, progress in rows:
            job = ClaimedJob(job_id, kind, owner, payload or {}, attempts, checkpoint, control)
            data = {"status": "running", "progress": progress, "stage": None, "attempt": attempts}
            claimed.append((job, Published(job_id, owner, kind, seq, "started", data)))
            events.append(
                {"job_id": job_id, "seq": seq, "type": "started", "data": data, "created_at": now}
            )
            metrics.record(kind, "running")
        if events:
            await session.execute(insert(JobEvent), events)
        return claimed

    async def heartbeat(self, job_id: int) -> bool:
        async with self.sessions() as session:
            result = await session.execute(
                update(Job)
                .where(Job.id == job_id, self._mine())
                .values(lease_until=utcnow() + self.lease)
                .execution_options(synchronize_session=False)
            )
            await session.commit()
        return result.rowcount == 1

    async def _write_mine(
        self, job_id: int, values: dict[str, Any], event_type: str, extra: dict | None = None
    ) -> None:
        async with self.sessions() as session:
            event = await write_transition(
                session, job_id, [self._mine()], values, event_type, extra
            )
            if event is None:
                raise LeaseLost(f"job {job_id} is no longer held by this process")
            await self._commit_and_publish(session, [event])

    async def progress(self, job_id: int, fraction: float, stage: str | None) -> None:
        values: dict[str, Any] = {"progress": fraction, "lease_until": utcnow() + self.lease}
        if stage is not None:
            values["stage"] = stage[:200]
        await self._write_mine(job_id, values, "progress")

    async def emit(self, job_id: int, event_type: str, data: dict[str, Any]) -> None:
        await self._write_mine(job_id, {}, event_type, {"data": data})

    async def save_checkpoint(self, job_id: int, state: Any) -> None:
        async with self.sessions() as session:
            result = await session.execute(
                update(Job)
                .where(Job.id == job_id, self._mine())
                .values(checkpoint=state, lease_until=utcnow() + self.lease, updated_at=utcnow())
                .execution_options(synchronize_session=False)
            )
            if result.rowcount != 1:
                raise LeaseLost(f"job {job_id} is no longer held by this process")
            await session.commit()

    async def stop_requested(self, job_id: int) -> str | None:
        async with self.sessions() as session:
            return await session.scalar(select(Job.control).where(Job.id == job_id))

    async def finish(
        self, job_id: int, status: str, *, result: Any = None, error: str | None = None
    ) -> bool:
        """Record an outcome: completed, failed, paused or cancelled."""
        values: dict[str, Any] = {
            "status": status,
            "control": None,
            "worker": None,
            "lease_until": None,
        }
        if status == "completed":
            values.update(result=result, progress=1.0, error=None)
        if error is not None:
            values["error"] = error[:10_000]
        if status in TERMINAL:
            values["finished_at"] = utcnow()
        return await self._finish_with(job_id, values, status)

    async def stop(self, job_id: int) -> str:
        """The runner stopped as asked: paused or cancelled, as the request said."""
        control = await self.stop_requested(job_id)
        if control == "cancel":
            await self.finish(job_id, "cancelled", error="cancelled")
            return "cancelled"
        if control == "pause":
            await self.finish(job_id, "paused")
            return "paused"
        await self.release(job_id)  # resumed before it stopped: run it again from its checkpoint
        return "running"

    async def retry_later(self, job_id: int, error: str, delay_seconds: float) -> bool:
        values = {
            "status": "queued",
            "worker": None,
            "lease_until": None,
            "error": error[:10_000],
            "run_after": utcnow() + timedelta(seconds=delay_seconds),
        }
        return await self._finish_with(job_id, values, "retrying")

    async def release(self, job_id: int) -> bool:
        """Give the job back (shutdown): running, no lease, taken by the next claimant."""
        values = {"worker": None, "lease_until": None, "stage": WAITING_STAGE}
        return await self._finish_with(job_id, values, "released")

    async def _finish_with(self, job_id: int, values: dict[str, Any], event_type: str) -> bool:
        try:
            await self._write_mine(job_id, values, event_type)
        except LeaseLost:
            return False
        return True
