"""Runners: the function that does a kind of job, registered with `@runner(kind, ...)`.

A runner receives a `JobContext` and returns the job's result (JSON). It reports progress,
writes checkpoints between steps and checks `should_stop()` (pause or cancel requested)
between them; `RetryableJobError` asks for another attempt with back-off.
"""

import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

if TYPE_CHECKING:
    from atrium.config import Settings
    from atrium.jobs.store import JobStore

DEFAULT_RESOURCE = "system"  # kinds that no domain owns are the administrators' business


class RetryableJobError(Exception):
    """A failure worth another attempt (network hiccup, busy upstream)."""


class LeaseLost(Exception):
    """Another process holds this job now; this one must stop touching it."""


class _Stopped:
    """What `ctx.stopped()` returns: the engine records paused or cancelled."""

    def __repr__(self) -> str:
        return "STOPPED"


STOPPED = _Stopped()
RunnerFunction = Callable[["JobContext"], Awaitable[Any]]


@dataclass(frozen=True, slots=True)
class Runner:
    kind: str
    function: RunnerFunction
    concurrency: int = 4
    cpu_heavy: bool = False
    max_attempts: int = 3
    resource: str = DEFAULT_RESOURCE


_RUNNERS: dict[str, Runner] = {}


def runner(
    kind: str,
    *,
    concurrency: int = 4,
    cpu_heavy: bool = False,
    max_attempts: int = 3,
    resource: str = DEFAULT_RESOURCE,
) -> Callable[[RunnerFunction], RunnerFunction]:
    """Register `function` as the runner of `kind`; `resource` authorises its jobs (rbac)."""
    if concurrency < 1 or max_attempts < 1:
        raise ValueError("concurrency and max_attempts must be at least 1")

    def register(function: RunnerFunction) -> RunnerFunction:
        _RUNNERS[kind] = Runner(kind, function, concurrency, cpu_heavy, max_attempts, resource)
        return function

    return register


def get_runner(kind: str) -> Runner | None:
    return _RUNNERS.get(kind)


def registered() -> dict[str, Runner]:
    return dict(_RUNNERS)


def resource_of(kind: str) -> str:
    found = _RUNNERS.get(kind)
    return found.resource if found else DEFAULT_RESOURCE


class JobContext:
    """What a runner sees of its job and of the process that runs it."""

    def __init__(
        self,
        *,
        store: "JobStore",
        claim: str,
        job_id: int,
        kind: str,
        owner_id: int | None,
        payload: dict[str, Any],
        attempt: int,
        checkpoint_state: Any,
        settings: "Settings",
        app_state: Any,
    ) -> None:
        self._store = store
        self._claim = claim
        self.job_id = job_id
        self.kind = kind
        self.owner_id = owner_id
        self.payload = payload
        self.attempt = attempt
        self.checkpoint_state = checkpoint_state
        self.settings = settings
        self.app_state = app_state

    @property
    def bus(self) -> Any:
        return self._store.bus

    async def progress(self, fraction: float, stage: str | None = None) -> None:
        """Record progress (0..1) and a human stage; one job_event row, then the bus."""
        await self._store.progress(
            self.job_id, self._claim, max(0.0, min(1.0, float(fraction))), stage
        )

    async def checkpoint(self, state: Any) -> None:
        """Persist `state`; a re-run after a crash or a resume starts from it."""
        await self._store.save_checkpoint(self.job_id, self._claim, state)
        self.checkpoint_state = state

    async def should_stop(self) -> bool:
        """Whether pause or cancel was requested (checked between steps)."""
        return await self._store.stop_requested(self.job_id) is not None

    async def stop_request(self) -> str | None:
        """Which stop is pending ("pause", "cancel" or None): a runner that saves costly state
        only for a pause (a cancelled run is never resumed) tells them apart."""
        return await self._store.stop_requested(self.job_id)

    def stopped(self) -> _Stopped:
        return STOPPED

    async def emit(self, type: str, data: dict[str, Any] | None = None) -> None:
        """A domain event: a job_event row, published on the bus."""
        await self._store.emit(self.job_id, self._claim, type, data or {})

    def sessions(self) -> contextlib.AbstractAsyncContextManager[AsyncSession]:
        """A session of the app's factory (commit yourself)."""
        return self._store.sessions()

    @property
    def session_factory(self) -> async_sessionmaker[AsyncSession]:
        return self._store.sessions
