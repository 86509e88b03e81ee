"""Row operations of the engine: claims, leases, progress, checkpoints, outcomes.

Every write that a process makes on a job it runs is conditional on its claim token
(`worker`), so a process that lost its lease can no longer change the row. Each status or
progress change writes its event row in the same transaction (`outbox`). The writes go through
one `WriteBatcher` per process: the writes of many jobs share a transaction and a commit, and
each caller returns once its own write is committed.
"""

import itertools
import os
import secrets
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, null
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from atrium.db import utcnow
from atrium.jobs import metrics
from atrium.jobs import statements as sql
from atrium.jobs.batching import Batch, WriteBatcher
from atrium.jobs.outbox import Published
from atrium.jobs.runners import LeaseLost

TERMINAL = ("completed", "failed", "cancelled")
WAITING_STAGE = "waiting for a worker"
CLAIM_SCAN_FACTOR = 4  # candidates read per free slot: some are taken by other processes
RENEW_CHUNK = 500


def new_token() -> str:
    return f"{socket.gethostname()[:60]}:{os.getpid()}:{secrets.token_hex(6)}"


@dataclass(frozen=True, slots=True)
class ClaimedJob:
    id: int
    kind: str
    owner_id: int | None
    payload: dict[str, Any]
    attempts: int
    checkpoint: Any
    control: str | None
    claim: str  # this run's claim token: a re-claim, even by the same process, gets another


def candidates(
    connection: Connection, free: dict[str, int], *, stale_before: datetime | None = None
) -> list[int]:
    """Ids worth claiming, oldest first, up to `free[kind]` of each kind."""
    params: dict[str, Any] = {
        "now": utcnow(),
        "kinds": list(free),
        "limit": sum(free.values()) * CLAIM_SCAN_FACTOR,
    }
    if stale_before is not None:
        params["stale_before"] = stale_before
    rows = connection.execute(sql.candidates(stale_before is not None), params)
    left = dict(free)
    found = []
    for job_id, kind in rows:
        if left.get(kind, 0) > 0:
            left[kind] -= 1
            found.append(job_id)
    return found


def transition(
    connection: Connection,
    job_id: int,
    claim: str,
    values: dict[str, Any],
    event_type: str,
    extra: dict[str, Any] | None = None,
) -> Published | None:
    """Change a job this run holds and bump its event sequence; its event, or None when the
    run no longer holds it."""
    names = tuple(sorted(values))
    params = {f"v_{name}": values[name] for name in names}
    params.update(job_id=job_id, claim=claim, now=utcnow())
    row = connection.execute(sql.transition(names), params).first()
    if row is None:
        return None
    seq, owner_id, kind, status, progress, stage = row
    data = {"status": status, "progress": progress, "stage": stage, **(extra or {})}
    if "status" in values:
        metrics.record(kind, status)
    return Published(job_id, owner_id, kind, seq, event_type, data)


class JobStore:
    """The writes one process makes on the jobs it has claimed, under its claim tokens."""

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
        self._claims = itertools.count(1)
        self.engine = sessions.kw["bind"]
        self.writes = WriteBatcher(self.engine, bus)

    # -- claims -------------------------------------------------------------------------
    async def claim(
        self,
        free: dict[str, int],
        *,
        job_ids: list[int] | None = None,
        stale_before: datetime | None = None,
    ) -> list[ClaimedJob]:
        """Claim up to `free[kind]` jobs of each kind (or exactly `job_ids`), oldest first."""
        claim = self.new_claim()

        def operation(connection: Connection, batch: Batch) -> list[ClaimedJob]:
            ids = job_ids
            if ids is None:
                ids = candidates(connection, free, stale_before=stale_before)
            if not ids:
                return []
            return self._claim_ids(connection, batch, ids, claim, stale_before)

        return await self.writes.run(operation)

    async def claim_by_id(self, job_id: int) -> ClaimedJob | None:
        """Claim one job by id (a Celery message), if it is claimable. The claims by id that
        meet in a batch are one UPDATE under one claim token."""
        return await self.writes.run(ClaimById(self, job_id))

    def new_claim(self) -> str:
        return f"{self.token}:{next(self._claims)}"

    def _claim_ids(
        self,
        connection: Connection,
        batch: Batch,
        job_ids: list[int],
        claim: str,
        stale_before: datetime | None,
    ) -> list[ClaimedJob]:
        # one conditional UPDATE: a row another process claimed meanwhile no longer matches
        now = utcnow()
        params: dict[str, Any] = {
            "ids": job_ids,
            "claim": claim,
            "now": now,
            "lease_until": now + self.lease,
        }
        if stale_before is not None:
            params["stale_before"] = stale_before
        rows = connection.execute(sql.claim(stale_before is not None), params)
        claimed = []
        for job_id, kind, owner, payload, attempts, checkpoint, control, seq, progress in rows:
            claimed.append(
                ClaimedJob(job_id, kind, owner, payload or {}, attempts, checkpoint, control, claim)
            )
            data = {"status": "running", "progress": progress, "stage": None, "attempt": attempts}
            batch.add(Published(job_id, owner, kind, seq, "started", data), now)
            metrics.record(kind, "running")
        claimed.sort(key=lambda job: job.id)
        return claimed

    # -- leases ---------------------------------------------------------------------------
    async def renew(self, claims: list[str]) -> set[str]:
        """Extend the leases of the runs with these claim tokens; the tokens still held."""

        def operation(connection: Connection, _batch: Batch) -> set[str]:
            held: set[str] = set()
            lease_until = utcnow() + self.lease
            for start in range(0, len(claims), RENEW_CHUNK):
                chunk = claims[start : start + RENEW_CHUNK]
                params = {"claims": chunk, "lease_until": lease_until}
                held.update(connection.execute(sql.renew(), params).scalars())
            return held

        return await self.writes.run(operation)

    async def heartbeat(self, job_id: int, claim: str) -> bool:
        return claim in await self.renew([claim])

    # -- a run's own writes -------------------------------------------------------------------
    async def _write_mine(
        self,
        job_id: int,
        claim: str,
        values: dict[str, Any],
        event_type: str,
        extra: dict | None = None,
    ) -> None:
        def operation(connection: Connection, batch: Batch) -> Published | None:
            event = transition(connection, job_id, claim, values, event_type, extra)
            if event is not None:
                batch.add(event, utcnow())
            return event

        if await self.writes.run(operation) is None:
            raise LeaseLost(f"job {job_id} is no longer held by this process")

    async def progress(self, job_id: int, claim: str, fraction: float, stage: str | None) -> None:
        values: dict[str, Any] = {"progress": fraction, "lease_until": utcnow() + self.lease}
        if stage is not None:
            values["stage"] = stage[:200]
        await self._write_mine(job_id, claim, values, "progress")

    async def emit(self, job_id: int, claim: str, event_type: str, data: dict[str, Any]) -> None:
        await self._write_mine(job_id, claim, {}, event_type, {"data": data})

    async def save_checkpoint(self, job_id: int, claim: str, state: Any) -> None:
        def operation(connection: Connection, _batch: Batch) -> int:
            now = utcnow()
            params = {
                "job_id": job_id,
                "claim": claim,
                "state": null() if state is None else state,  # SQL NULL, as before any
                "lease_until": now + self.lease,
                "now": now,
            }
            return connection.execute(sql.save_checkpoint(), params).rowcount

        if await self.writes.run(operation) != 1:
            raise LeaseLost(f"job {job_id} is no longer held by this process")

    async def stop_requested(self, job_id: int) -> str | None:
        async with self.engine.connect() as connection:
            return await connection.scalar(sql.control(), {"job_id": job_id})

    # -- outcomes ---------------------------------------------------------------------------
    async def finish(
        self,
        job_id: int,
        claim: str,
        status: str,
        *,
        result: Any = None,
        error: str | None = None,
    ) -> bool:
        """Record an outcome: completed, failed, paused or cancelled."""
        return await self._finish_with(job_id, claim, outcome(status, result, error), status)

    async def stop(self, job_id: int, claim: str) -> str:
        """The runner stopped as asked: paused or cancelled, as the request (read in the same
        transaction) says; resumed before it stopped: given back, to run again from its
        checkpoint."""

        def operation(connection: Connection, batch: Batch) -> str:
            control = connection.scalar(sql.control(), {"job_id": job_id})
            if control == "cancel":
                status, values = "cancelled", outcome("cancelled", None, "cancelled")
            elif control == "pause":
                status, values = "paused", outcome("paused", None, None)
            else:
                status, values = "running", released()
            event_type = status if status != "running" else "released"
            event = transition(connection, job_id, claim, values, event_type)
            if event is not None:
                batch.add(event, utcnow())
            return status

        return await self.writes.run(operation)

    async def retry_later(self, job_id: int, claim: str, error: str, delay_seconds: float) -> bool:
        values = {
            "status": "queued",
            "worker": None,
            "lease_until": None,
            "error": error[:10_000],
            "run_after": utcnow() + timedelta(seconds=delay_seconds),
        }
        return await self._finish_with(job_id, claim, values, "retrying")

    async def release(self, job_id: int, claim: str) -> bool:
        """Give the job back (shutdown): running, no lease, taken by the next claimant."""
        return await self._finish_with(job_id, claim, released(), "released")

    async def _finish_with(
        self, job_id: int, claim: str, values: dict[str, Any], event_type: str
    ) -> bool:
        group = shared_group(values, event_type)
        if group is None:
            try:
                await self._write_mine(job_id, claim, values, event_type)
            except LeaseLost:
                return False
            return True
        return await self.writes.run(SharedOutcome(job_id, claim, group)) is not None


@dataclass(frozen=True, slots=True)
class ClaimById:
    """One claim by id; the batch claims every job asked for by id in one UPDATE. A job asked
    for twice (a message sent twice) is claimed once: the first asker gets it, the others None."""

    store: JobStore
    job_id: int
    group: tuple = ("claim by id",)

    def __call__(self, connection: Connection, batch: Batch) -> ClaimedJob | None:
        return self.run_group(connection, batch, [self])[0]

    def run_group(
        self, connection: Connection, batch: Batch, members: Sequence["ClaimById"]
    ) -> list[ClaimedJob | None]:
        ids = list(dict.fromkeys(member.job_id for member in members))
        claim = self.store.new_claim()
        claimed = {
            job.id: job for job in self.store._claim_ids(connection, batch, ids, claim, None)
        }
        return [claimed.pop(member.job_id, None) for member in members]


def shared_group(values: dict[str, Any], event_type: str) -> tuple | None:
    """The group of an outcome whose columns are plain values that other runs' outcomes may
    share (a completion without a result, a failure, a release); None for one with its own
    (a result, a retry's time). `finished_at` is left to the batch."""
    columns = []
    for name, value in sorted(values.items()):
        if name == "finished_at":
            value = None
        elif not (value is None or isinstance(value, str | int | float)):
            return None
        columns.append((name, value))
    return ("outcome", event_type, tuple(columns))


@dataclass(frozen=True, slots=True)
class SharedOutcome:
    """One run's outcome; the batch writes every outcome of its `group` in one UPDATE."""

    job_id: int
    claim: str
    group: tuple

    def __call__(self, connection: Connection, batch: Batch) -> Published | None:
        return self.run_group(connection, batch, [self])[0]

    def run_group(
        self, connection: Connection, batch: Batch, members: Sequence["SharedOutcome"]
    ) -> list[Published | None]:
        _tag, event_type, columns = self.group
        now = utcnow()
        # a job twice in the group (a stale run and the live one) would make the returned rows
        # ambiguous: the second and later run alone, after the shared statement
        runs: dict[int, SharedOutcome] = {}
        alone: list[SharedOutcome] = []
        for member in members:
            if member.job_id in runs:
                alone.append(member)
            else:
                runs[member.job_id] = member
        params: dict[str, Any] = {
            f"v_{name}": now if name == "finished_at" else value for name, value in columns
        }
        params.update(now=now, runs=[(job_id, run.claim) for job_id, run in runs.items()])
        names = tuple(name for name, _ in columns)
        events: dict[int, Published | None] = {}
        for job_id, seq, owner_id, kind, status, progress, stage in connection.execute(
            sql.transition_many(names), params
        ):
            data = {"status": status, "progress": progress, "stage": stage}
            events[job_id] = event = Published(job_id, owner_id, kind, seq, event_type, data)
            batch.add(event, now)
            if "status" in names:
                metrics.record(kind, status)
        found = {id(run): events.get(job_id) for job_id, run in runs.items()}
        values = {name: now if name == "finished_at" else value for name, value in columns}
        for member in alone:
            event = transition(connection, member.job_id, member.claim, values, event_type)
            if event is not None:
                batch.add(event, now)
            found[id(member)] = event
        return [found[id(member)] for member in members]


def outcome(status: str, result: Any, error: str | None) -> dict[str, Any]:
    """The columns of an outcome. A completed job's `result` is set only when there is one: the
    column is NULL until then, and a JSON-typed parameter would store None as JSON null."""
    values: dict[str, Any] = {"status": status, "control": None, "worker": None}
    values["lease_until"] = None
    if status == "completed":
        values.update(progress=1.0, error=None)
        if result is not None:
            values["result"] = result
    if error is not None:
        values["error"] = error[:10_000]
    if status in TERMINAL:
        values["finished_at"] = utcnow()
    return values


def released() -> dict[str, Any]:
    return {"worker": None, "lease_until": None, "stage": WAITING_STAGE}
