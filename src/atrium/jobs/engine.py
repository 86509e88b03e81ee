"""The engine of one process: claims due jobs, runs their runners, renews their leases.

Roles: `local` (the default executor: this process claims and runs jobs), `dispatch` (an
API process under Celery: it only sends new jobs to the broker), `worker` (a Celery worker:
runs what the broker sends, and also claims jobs orphaned by a dead process or a lost
message), `child` (a subprocess running one CPU-heavy job). Every role with a loop also
fires due schedules.
"""

import asyncio
import contextlib
import logging
import random
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from atrium.config import Settings
from atrium.db import utcnow
from atrium.jobs import schedules
from atrium.jobs.outbox import COLUMNS
from atrium.jobs.runners import (
    STOPPED,
    JobContext,
    LeaseLost,
    RetryableJobError,
    Runner,
    get_runner,
    registered,
)
from atrium.jobs.store import ClaimedJob, JobStore

log = logging.getLogger("atrium.jobs")
MAX_BACKOFF_SECONDS = 300.0
CLAIM_INTERVAL_SECONDS = 0.01


def backoff_seconds(attempt: int, base: float = 1.0) -> float:
    """Exponential back-off with jitter: about 1, 2, 4 ... seconds, capped at five minutes."""
    delay = min(MAX_BACKOFF_SECONDS, base * 2 ** max(0, attempt - 1))
    return delay * random.uniform(0.8, 1.2)


class JobEngine:
    def __init__(
        self,
        settings: Settings,
        sessions: async_sessionmaker[AsyncSession],
        bus: Any,
        *,
        role: str = "local",
        app_state: Any = None,
        dispatcher: Callable[[int, float], Any] | None = None,
    ) -> None:
        self.settings = settings
        self.sessions = sessions
        self.bus = bus
        self.role = role
        self.app_state = app_state
        self.store = JobStore(sessions, bus, lease_seconds=settings.job_lease_seconds)
        self.dispatcher = dispatcher  # Celery: send job ids to the broker
        self.active: dict[str, int] = {}
        self.tasks: dict[int, asyncio.Task] = {}
        self._wake = asyncio.Event()
        self._loops: list[asyncio.Task] = []
        self._semaphores: dict[str, asyncio.Semaphore] = {}
        # claim token -> the tasks running its jobs: the jobs claimed together share a token
        self._held: dict[str, set[asyncio.Task]] = {}
        self._lost: set[str] = set()
        self._leases: asyncio.Task | None = None

    # -- life cycle ---------------------------------------------------------------------
    async def start(self) -> None:
        async with self.sessions() as session:
            await schedules.sync(session)
            await session.commit()
        if self.role in ("local", "worker"):
            self._loops.append(asyncio.create_task(self._claim_loop(), name="jobs-claim"))
        if self.role in ("local", "worker", "dispatch"):
            self._loops.append(asyncio.create_task(self._schedule_loop(), name="jobs-schedule"))

    async def stop(self) -> None:
        for loop in self._loops:
            loop.cancel()
        for loop in self._loops:
            with contextlib.suppress(asyncio.CancelledError):
                await loop
        self._loops.clear()
        running = list(self.tasks.values())
        for task in running:
            task.cancel()
        await asyncio.gather(*running, return_exceptions=True)
        if self._leases is not None:
            self._leases.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._leases
            self._leases = None
        await self.store.writes.close()
        close_dispatcher = getattr(self.dispatcher, "close", None)
        if close_dispatcher is not None:  # the sends of jobs already committed
            await close_dispatcher()

    # -- dispatch -----------------------------------------------------------------------
    def wake(self) -> None:
        self._wake.set()

    async def dispatch(
        self, job_id: int, delay_seconds: float = 0.0, kind: str | None = None
    ) -> None:
        """A job was committed (enqueued, resumed): have it run."""
        if self.role == "dispatch" or (self.role == "worker" and self.dispatcher is not None):
            if self.dispatcher is not None:
                await self.dispatcher(job_id, delay_seconds, kind)
            return
        self.wake()

    # -- the claim loop (local executor, and orphan recovery in workers) ------------------
    def _free(self) -> dict[str, int]:
        return {
            kind: found.concurrency - self.active.get(kind, 0)
            for kind, found in registered().items()
            if found.concurrency - self.active.get(kind, 0) > 0
        }

    async def _claim_loop(self) -> None:
        """Claim when woken (a commit that enqueued or resumed a job, a run that ended) or every
        poll; rounds are at least `CLAIM_INTERVAL_SECONDS` apart, so that a stream of enqueues
        is claimed many jobs at a time instead of one claim (and one transaction) per job."""
        poll = self.settings.jobs_poll_seconds
        if self.role == "worker":
            poll = max(poll, self.settings.job_lease_seconds / 2)
        loop = asyncio.get_running_loop()
        last_round = -CLAIM_INTERVAL_SECONDS
        while True:
            self._wake.clear()
            early = last_round + CLAIM_INTERVAL_SECONDS - loop.time()
            if early > 0:
                await asyncio.sleep(early)
            last_round = loop.time()
            try:
                claimed = await self._claim_round()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("claiming jobs failed")
                claimed = 0
            if claimed and self._free():  # more may be waiting
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=poll)

    async def _claim_round(self) -> int:
        free = self._free()
        if not free:
            return 0
        stale_before = None
        if self.role == "worker":  # fresh queued jobs come through the broker
            stale_before = utcnow() - timedelta(seconds=self.settings.job_lease_seconds)
        claimed = await self.store.claim(free, stale_before=stale_before)
        for job in claimed:
            self._start(job)
        return len(claimed)

    def _start(self, job: ClaimedJob) -> None:
        self.active[job.kind] = self.active.get(job.kind, 0) + 1
        task = asyncio.create_task(self._run_claimed(job), name=f"job-{job.id}")
        self.tasks[job.id] = task

        def done(_task: asyncio.Task) -> None:
            self.tasks.pop(job.id, None)
            self.active[job.kind] -= 1
            self.wake()

        task.add_done_callback(done)

    async def run_by_id(self, job_id: int, kind: str | None = None) -> str | None:
        """Claim one job by id and run it here (a Celery task); None if not claimable.
        `kind` comes with the message (older messages lack it: read from the row)."""
        async with self._semaphore(job_id, kind) as kind:
            if kind is None:
                return None
            claimed = await self.store.claim_by_id(job_id)
            if claimed is None:
                return None
            self.active[kind] = self.active.get(kind, 0) + 1
            try:
                return await self._run_claimed(claimed)
            finally:
                self.active[kind] -= 1

    async def run_many(self, jobs: list[tuple[int, str | None]]) -> list[str | None]:
        """`run_by_id` for every (job id, kind) of one message, side by side: their claims
        meet in one write batch."""
        return await asyncio.gather(*(self.run_by_id(job_id, kind) for job_id, kind in jobs))

    @contextlib.asynccontextmanager
    async def _semaphore(self, job_id: int, kind: str | None):
        if kind is None:
            async with self.sessions() as session:
                kind = await session.scalar(select(COLUMNS.kind).where(COLUMNS.id == job_id))
        found = get_runner(kind) if kind else None
        if found is None:
            yield None
            return
        semaphore = self._semaphores.setdefault(kind, asyncio.Semaphore(found.concurrency))
        async with semaphore:
            yield kind

    # -- running one job ------------------------------------------------------------------
    async def _run_claimed(self, job: ClaimedJob) -> str:
        found = get_runner(job.kind)
        if found is None:  # claimed only for registered kinds; a race with unloading
            await self.store.release(job.id, job.claim)
            return "running"
        if job.control is not None:  # asked to stop while no process held it
            return await self.store.stop(job.id, job.claim)
        if found.cpu_heavy and self.role == "local" and self.settings.jobs_subprocess_heavy:
            from atrium.jobs.child import run_in_subprocess

            # this process renews the lease too until the child ends: starting a child (its
            # imports) can take longer than a lease on a busy machine
            self._hold(job.claim)
            try:
                return await run_in_subprocess(self, job)
            finally:
                self._held.pop(job.claim, None)
                self._lost.discard(job.claim)
        return await self.run_here(found, job)

    async def run_here(self, found: Runner, job: ClaimedJob) -> str:
        ctx = JobContext(
            store=self.store,
            claim=job.claim,
            job_id=job.id,
            kind=job.kind,
            owner_id=job.owner_id,
            payload=job.payload,
            attempt=job.attempts,
            checkpoint_state=job.checkpoint,
            settings=self.settings,
            app_state=self.app_state,
        )
        self._hold(job.claim)
        try:
            outcome = await found.function(ctx)
        except LeaseLost:
            return "lost"
        except RetryableJobError as exc:
            return await self._retry_or_fail(found, job, exc)
        except asyncio.CancelledError:
            if job.claim in self._lost:  # the lease went to another process
                return "lost"
            await asyncio.shield(self.store.release(job.id, job.claim))
            raise
        except Exception as exc:
            log.warning("job %s (%s) failed", job.id, job.kind, exc_info=True)
            error = str(exc) or type(exc).__name__
            await self.store.finish(job.id, job.claim, "failed", error=error)
            return "failed"
        finally:
            self._let_go(job.claim)
        if outcome is STOPPED:
            return await self.store.stop(job.id, job.claim)
        await self.store.finish(job.id, job.claim, "completed", result=outcome)
        return "completed"

    async def _retry_or_fail(self, found: Runner, job: ClaimedJob, exc: Exception) -> str:
        error = str(exc) or type(exc).__name__
        if job.attempts >= found.max_attempts:
            await self.store.finish(job.id, job.claim, "failed", error=error)
            return "failed"
        delay = backoff_seconds(job.attempts, self.settings.jobs_retry_base_seconds)
        await self.store.retry_later(job.id, job.claim, error, delay)
        if self.dispatcher is not None:
            await self.dispatcher(job.id, delay, job.kind)
        return "queued"

    # -- leases: one renewal for every run of this process --------------------------------
    def _hold(self, claim: str) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._held.setdefault(claim, set()).add(task)
        if self._leases is None or self._leases.done():
            self._leases = asyncio.create_task(self._renew_leases(), name="jobs-leases")

    async def _renew_leases(self) -> None:
        """Every third of a lease, renew the leases of all runs here in one statement; a run
        whose lease went to another process (this one stalled past it) is stopped here."""
        every = max(0.05, self.settings.job_lease_seconds / 3)
        while True:
            await asyncio.sleep(every)
            claims = list(self._held)
            if not claims:
                continue
            try:
                held = await self.store.renew(claims)
            except Exception:
                log.warning("renewing the leases of %d jobs failed", len(claims), exc_info=True)
                continue
            for claim in claims:
                tasks = self._held.get(claim)
                if claim not in held and tasks:
                    log.warning("run %s: lease lost, stopping its runners here", claim)
                    self._lost.add(claim)
                    for task in list(tasks):
                        task.cancel()

    def _let_go(self, claim: str) -> None:
        """The current task's run has ended: its token is renewed while others still hold it."""
        tasks = self._held.get(claim)
        if tasks is None:
            return
        tasks.discard(asyncio.current_task())  # type: ignore[arg-type]
        if not tasks:
            del self._held[claim]
            self._lost.discard(claim)

    # -- schedules ------------------------------------------------------------------------
    async def _schedule_loop(self) -> None:
        while True:
            try:
                fired = await schedules.fire_due(self.sessions, self)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("firing schedules failed")
                fired = 0
            if not fired:
                await asyncio.sleep(self.settings.jobs_poll_seconds)
