"""Jobs: enqueue in the caller's transaction, read, control (pause, resume, cancel), delete.

A job is authorised by the resource of the domain that owns its kind (an audit job by
`audits`): the caller sees their own jobs of kinds whose resource they may read, and other
users' jobs where their role's reach covers that resource.
"""

from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, false, or_, select
from sqlalchemy import delete as sql_delete
from sqlalchemy.ext.asyncio import AsyncSession

from atrium.auth.principal import Principal
from atrium.db import after_commit, utcnow
from atrium.errors import Forbidden
from atrium.jobs import metrics
from atrium.jobs import statements as sql
from atrium.jobs.errors import InvalidStatusTransition, JobNotFinished, JobNotFound, UnknownJobKind
from atrium.jobs.outbox import Published, publish, write_transition
from atrium.jobs.runners import get_runner, registered, resource_of
from atrium.jobs.schemas import JobEventRead, JobRead
from atrium.jobs.store import TERMINAL, WAITING_STAGE
from atrium.jobs.tables import Job, JobEvent

MAX_PAGE = 1000
RUNTIME_KEY = "jobs_runtime"  # session.info: the app's JobEngine (dispatch, bus)
ALLOWED = {
    "queued": ["pause", "cancel"],
    "running": ["pause", "cancel"],
    "paused": ["resume", "cancel"],
    "completed": [],
    "failed": [],
    "cancelled": [],
}
PAST = {"pause": "paused", "resume": "resumed", "cancel": "cancelled"}
_UNSET = dict.fromkeys(("control", "stage", "result", "error", "started_at", "finished_at"))


# -- enqueue and plain reads (any domain) ---------------------------------------------------
def _announce(session: AsyncSession, events: list[Published], dispatch: JobRead | None) -> None:
    """After the commit: wake listeners, and have a job run."""
    runtime = session.info.get(RUNTIME_KEY)
    if runtime is None:  # no engine in this process (CLI): an engine elsewhere polls
        return

    async def hook() -> None:
        if events:
            await publish(runtime.bus, events)
        if dispatch is not None:
            await runtime.dispatch(dispatch.id, kind=dispatch.kind)

    after_commit(session, hook)


async def enqueue(
    session: AsyncSession,
    *,
    kind: str,
    owner_id: int | None,
    payload: dict[str, Any] | None = None,
    run_after: datetime | None = None,
) -> JobRead:
    """Add a queued job to the session's transaction; it is dispatched after the commit."""
    if get_runner(kind) is None:
        raise UnknownJobKind(f"No runner is registered for job kind {kind!r}")
    now = utcnow()
    values = {
        "kind": kind,
        "owner_id": owner_id,
        "status": "queued",
        "progress": 0.0,
        "payload": payload or {},
        "attempts": 0,
        "event_seq": 0,
        "run_after": run_after,
        "created_at": now,
        "updated_at": now,
    }
    # a Core INSERT: the ORM's unit of work costs several times more, on the hot path
    job_id = (await session.execute(sql.insert_job(), values)).scalar_one()
    metrics.record(kind, "queued")
    job = JobRead.model_validate({**values, **_UNSET, "id": job_id})
    _announce(session, [], job)
    return job


async def get(session: AsyncSession, job_id: int) -> JobRead:
    job = await session.get(Job, job_id, populate_existing=True)
    if job is None:
        raise JobNotFound()
    return JobRead.model_validate(job)


async def events_after(
    session: AsyncSession, job_id: int, after_seq: int = 0, limit: int = 500
) -> list[JobEventRead]:
    rows = await session.scalars(
        select(JobEvent)
        .where(JobEvent.job_id == job_id, JobEvent.seq > after_seq)
        .order_by(JobEvent.seq)
        .limit(limit)
    )
    return [JobEventRead.model_validate(row) for row in rows]


# -- control ----------------------------------------------------------------------------------
async def _transition(session: AsyncSession, job_id: int, action: str) -> JobRead:
    # optimistic: every write is conditional on the status (and request) it was decided on
    for _ in range(5):
        job = await get(session, job_id)
        plan = _plan(job, action)
        if plan is None:
            raise InvalidStatusTransition(job.status, PAST[action], ALLOWED[job.status])
        values, event_type, dispatch = plan
        where = [Job.status == job.status, _control_is(job.stop_requested)]
        event = await write_transition(session, job_id, where, values, event_type)
        if event is not None:
            _announce(session, [event], job if dispatch else None)
            return await get(session, job_id)
    raise InvalidStatusTransition(job.status, PAST[action], ALLOWED[job.status])


def _control_is(value: str | None) -> ColumnElement[bool]:
    return Job.control.is_(None) if value is None else Job.control == value


def _plan(job: JobRead, action: str) -> tuple[dict[str, Any], str, bool] | None:
    """(values, event type, dispatch after commit) for `action` on `job`, or None if refused."""
    status, control = job.status, job.stop_requested
    now = utcnow()
    if action == "pause":
        if status == "queued":
            return {"status": "paused"}, "paused", False
        if status == "running" and control in (None, "pause"):
            return {"control": "pause"}, "pause_requested", False
    elif action == "resume":
        if status == "paused":
            values = {"status": "running", "stage": WAITING_STAGE, "worker": None}
            return {**values, "lease_until": None, "control": None}, "resumed", True
        if status == "running" and control == "pause":  # not stopped yet: keep going
            return {"control": None}, "resumed", False
    elif action == "cancel":
        if status in ("queued", "paused"):
            values = {"status": "cancelled", "finished_at": now, "error": "cancelled"}
            return {**values, "control": None}, "cancelled", False
        if status == "running":
            return {"control": "cancel"}, "cancel_requested", False
    return None


async def request_pause(session: AsyncSession, job_id: int) -> JobRead:
    return await _transition(session, job_id, "pause")


async def request_resume(session: AsyncSession, job_id: int) -> JobRead:
    return await _transition(session, job_id, "resume")


async def request_cancel(session: AsyncSession, job_id: int) -> JobRead:
    return await _transition(session, job_id, "cancel")


async def delete(session: AsyncSession, job_id: int) -> None:
    """Delete a finished job with its events; anything else is 409."""
    job = await get(session, job_id)
    if job.status not in TERMINAL:
        raise JobNotFinished()
    await session.execute(
        sql_delete(Job).where(Job.id == job_id, Job.status.in_(TERMINAL)),
        execution_options={"synchronize_session": False},
    )


# -- scoped to a caller (the API) ------------------------------------------------------------
def visible(principal: Principal, action: str = "read") -> ColumnElement[bool]:
    """Jobs the caller may see for `action`: by the resource of each kind's domain."""
    by_resource: dict[str, list[str]] = {}
    for kind, found in registered().items():
        by_resource.setdefault(found.resource, []).append(kind)
    clauses = []
    for resource, kinds in by_resource.items():
        if not principal.can(resource, action):
            continue
        if principal.reaches(resource, action):
            clauses.append(Job.kind.in_(kinds))
        else:
            clauses.append(and_(Job.kind.in_(kinds), Job.owner_id == principal.user_id))
    if principal.reaches(resource_of(""), action):  # kinds without a runner here
        clauses.append(Job.kind.not_in(list(registered())))
    return or_(*clauses) if clauses else false()


def may_see(principal: Principal, kind: str, owner_id: int | None) -> bool:
    """Whether the caller may read a job of `kind` owned by `owner_id` (as `visible` says)."""
    resource = resource_of(kind)
    if not principal.can(resource, "read"):
        return False
    return owner_id == principal.user_id or principal.reaches(resource, "read")


def reaches_others(principal: Principal) -> bool:
    """Whether the caller may read some other users' jobs (their `/ws/events` carries them)."""
    resources = {found.resource for found in registered().values()} | {resource_of("")}
    return any(principal.reaches(resource, "read") for resource in resources)


async def get_visible(
    session: AsyncSession, principal: Principal, job_id: int, action: str = "read"
) -> JobRead:
    """The job if the caller may `action` it; 404 when they may not even read it."""
    job = await session.scalar(select(Job).where(Job.id == job_id, visible(principal, "read")))
    if job is None:
        raise JobNotFound()
    if action != "read":
        resource = resource_of(job.kind)
        owned = job.owner_id == principal.user_id
        if not principal.can(resource, action) or not (
            owned or principal.reaches(resource, action)
        ):
            raise Forbidden()
    return JobRead.model_validate(job)


async def list_visible(
    session: AsyncSession,
    principal: Principal,
    *,
    kind: str | None,
    status: str | None,
    limit: int,
    before_id: int | None,
) -> tuple[list[JobRead], int | None]:
    """Newest first; with the id to continue before when more remain."""
    if kind is not None and get_runner(kind) is None:
        raise UnknownJobKind(f"Unknown job kind {kind!r}; known: {', '.join(sorted(registered()))}")
    size = min(limit, MAX_PAGE)
    query = select(Job).where(visible(principal, "read"))
    if kind is not None:
        query = query.where(Job.kind == kind)
    if status is not None:
        query = query.where(Job.status == status)
    if before_id is not None:
        query = query.where(Job.id < before_id)
    rows = list(await session.scalars(query.order_by(Job.id.desc()).limit(size + 1)))
    jobs = [JobRead.model_validate(row) for row in rows[:size]]
    return jobs, (rows[size - 1].id if len(rows) > size else None)


async def get_many(session: AsyncSession, job_ids: list[int]) -> dict[int, JobRead]:
    """Jobs by id (a domain's list shows each row's job); missing ids are left out."""
    if not job_ids:
        return {}
    rows = await session.scalars(
        select(Job).where(Job.id.in_(set(job_ids))).execution_options(populate_existing=True)
    )
    return {row.id: JobRead.model_validate(row) for row in rows}


async def ids_with_status(session: AsyncSession, kind: str, status: str) -> list[int]:
    """Ids of the jobs of `kind` in `status` (a domain's view of what runs now)."""
    rows = await session.scalars(select(Job.id).where(Job.kind == kind, Job.status == status))
    return list(rows)
