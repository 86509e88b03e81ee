"""Pipelines: a named chain of steps over one account (discovery, waste analysis, report), each
step a job on the engine. A run starts its first step's job; a step that finishes records its
result and enqueues the next step's job in the same transaction, so the chain survives a
restart between steps; a step that fails fails the run with the step's cause and the rest are
skipped.

Schedules: a pipeline's period (`every_seconds` or `cron`) is stored on it with `next_run_at`.
Schedules the job engine knows are declared in code, so one declared periodic job
(`cloud.pipelines_due`, see `tasks.py`) starts the runs of the pipelines that are due; moving
`next_run_at` from the value it read is a conditional UPDATE, so a due time fires once across
processes. A scheduled run that cannot start (account not connected, a discovery already
running) is recorded as a failed run that says why."""

from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, func, select, true, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from atrium.auth.principal import Principal
from atrium.cloud import events as cloud_events
from atrium.cloud import service as cloud_service
from atrium.cloud.errors import PipelineNotFound, PipelineRunning, PipelineRunNotFound
from atrium.cloud.kinds import REPORT, WASTE_ANALYSIS
from atrium.cloud.tables import CloudAccount, Pipeline, PipelineRun
from atrium.db import commit, utcnow
from atrium.errors import AtriumError
from atrium.jobs import schedules
from atrium.jobs import service as jobs_service

STEPS = ("discovery", "waste_analysis", "report")
STEP_KINDS = {"waste_analysis": WASTE_ANALYSIS, "report": REPORT}
ACTIVE = "running"


def _visible(principal: Principal, action: str) -> ColumnElement[bool]:
    if principal.reaches("cloud", action):
        return true()
    return Pipeline.user_id == principal.user_id


async def get_visible(
    session: AsyncSession, principal: Principal, pipeline_id: int, action: str = "read"
) -> Pipeline:
    pipeline = await session.scalar(
        select(Pipeline).where(Pipeline.id == pipeline_id, _visible(principal, action))
    )
    if pipeline is None:
        raise PipelineNotFound()
    return pipeline


async def list_visible(session: AsyncSession, principal: Principal) -> list[Pipeline]:
    query = select(Pipeline).where(_visible(principal, "read")).order_by(Pipeline.id)
    return list(await session.scalars(query.limit(1000)))


def _schedule_fields(schedule: dict[str, Any] | None, now: datetime) -> dict[str, Any]:
    if not schedule:
        return {"schedule_every_seconds": None, "schedule_cron": None, "next_run_at": None}
    every, cron = schedule.get("every_seconds"), schedule.get("cron")
    spec = schedules.ScheduleSpec("pipeline", "", every_seconds=every, cron=cron)
    return {
        "schedule_every_seconds": every,
        "schedule_cron": cron,
        "next_run_at": schedules.next_after(spec, now),
    }


async def create(session: AsyncSession, principal: Principal, data: dict[str, Any]) -> Pipeline:
    account = await cloud_service.get_owned(session, principal, data["account_id"], "execute")
    pipeline = Pipeline(
        user_id=principal.user_id,
        account_id=account.id,
        name=data["name"],
        steps=list(data["steps"]),
        enabled=data.get("enabled", True),
        **_schedule_fields(data.get("schedule"), utcnow()),
    )
    session.add(pipeline)
    await session.flush()
    return pipeline


async def update_pipeline(
    session: AsyncSession, principal: Principal, pipeline_id: int, changes: dict[str, Any]
) -> Pipeline:
    pipeline = await get_visible(session, principal, pipeline_id, "write")
    if "schedule" in changes:
        for name, value in _schedule_fields(changes.pop("schedule"), utcnow()).items():
            setattr(pipeline, name, value)
    for name, value in changes.items():
        setattr(pipeline, name, value)
    await session.flush()
    return pipeline


async def delete_pipeline(session: AsyncSession, principal: Principal, pipeline_id: int) -> None:
    pipeline = await get_visible(session, principal, pipeline_id, "delete")
    running = await session.scalar(
        select(PipelineRun.id).where(
            PipelineRun.pipeline_id == pipeline.id, PipelineRun.status == ACTIVE
        )
    )
    if running is not None:
        raise PipelineRunning("The pipeline is running; delete it once the run has finished")
    await session.delete(pipeline)
    await session.flush()


async def last_runs(session: AsyncSession, pipeline_ids: list[int]) -> dict[int, PipelineRun]:
    if not pipeline_ids:
        return {}
    newest = (
        select(func.max(PipelineRun.id))
        .where(PipelineRun.pipeline_id.in_(pipeline_ids))
        .group_by(PipelineRun.pipeline_id)
    )
    runs = await session.scalars(select(PipelineRun).where(PipelineRun.id.in_(newest)))
    return {run.pipeline_id: run for run in runs}


async def list_runs(
    session: AsyncSession, principal: Principal, pipeline_id: int, limit: int = 50
) -> list[PipelineRun]:
    await get_visible(session, principal, pipeline_id)
    query = (
        select(PipelineRun)
        .where(PipelineRun.pipeline_id == pipeline_id)
        .order_by(PipelineRun.id.desc())
        .limit(limit)
    )
    return list(await session.scalars(query))


async def get_run(
    session: AsyncSession, principal: Principal, pipeline_id: int, run_id: int
) -> PipelineRun:
    await get_visible(session, principal, pipeline_id)
    run = await session.scalar(
        select(PipelineRun).where(PipelineRun.id == run_id, PipelineRun.pipeline_id == pipeline_id)
    )
    if run is None:
        raise PipelineRunNotFound()
    return run


# -- running --------------------------------------------------------------------------------
def _step_state(name: str) -> dict[str, Any]:
    return {
        "name": name,
        "status": "pending",
        "job_id": None,
        "started_at": None,
        "finished_at": None,
        "error": None,
        "result": None,
    }


def _now_iso() -> str:
    return utcnow().isoformat().replace("+00:00", "Z")


async def _start_step(session: AsyncSession, run: PipelineRun, index: int, owner_id: int) -> None:
    """Enqueue step `index`'s job (dispatched after the commit). Raises an AtriumError when
    the step cannot start (the account is not connected, a discovery is already running)."""
    steps = [dict(step) for step in run.steps]
    name = steps[index]["name"]
    marker = {"pipeline_run_id": run.id, "step": index}
    if name == "discovery":
        account = await session.get(CloudAccount, run.account_id)
        discovery = await cloud_service.start_discovery(session, account, pipeline_step=marker)
        job_id = discovery.job_id
    else:
        job = await jobs_service.enqueue(
            session,
            kind=STEP_KINDS[name],
            owner_id=owner_id,
            payload={"account_id": run.account_id, **marker},
        )
        job_id = job.id
    steps[index].update(status="running", job_id=job_id, started_at=_now_iso())
    run.steps = steps
    await cloud_events.emit(
        session,
        user_id=owner_id,
        account_id=run.account_id,
        type="pipeline.step_started",
        pipeline_id=str(run.pipeline_id),
        run_id=str(run.id),
        step=name,
    )


async def _fail_run(
    session: AsyncSession, run: PipelineRun, index: int, error: str, owner_id: int
) -> None:
    steps = [dict(step) for step in run.steps]
    steps[index].update(status="failed", error=error, finished_at=_now_iso())
    for later in steps[index + 1 :]:
        later["status"] = "skipped"
    run.steps = steps
    run.status = "failed"
    run.error = f"step '{steps[index]['name']}' failed: {error}"
    run.finished_at = utcnow()
    await cloud_events.emit(
        session,
        user_id=owner_id,
        account_id=run.account_id,
        type="pipeline.failed",
        pipeline_id=str(run.pipeline_id),
        run_id=str(run.id),
        step=steps[index]["name"],
        error=run.error,
    )


async def start_run(
    session: AsyncSession, pipeline: Pipeline, trigger: str, *, record_refusal: bool = False
) -> PipelineRun:
    """A run of `pipeline` with its first step enqueued. A refusal to start (409 while the
    pipeline runs, 400 or 409 from the first step) is raised, or with `record_refusal` kept
    as a failed run."""
    running = await session.scalar(
        select(PipelineRun.id).where(
            PipelineRun.pipeline_id == pipeline.id, PipelineRun.status == ACTIVE
        )
    )
    run = PipelineRun(
        pipeline_id=pipeline.id,
        account_id=pipeline.account_id,
        trigger=trigger,
        status=ACTIVE,
        steps=[_step_state(name) for name in pipeline.steps],
    )
    if running is not None and not record_refusal:
        raise PipelineRunning()
    session.add(run)
    await session.flush()
    if running is not None:
        await _fail_run(session, run, 0, PipelineRunning.detail, pipeline.user_id)
        return run
    try:
        await _start_step(session, run, 0, pipeline.user_id)
    except AtriumError as exc:
        if not record_refusal:
            raise
        await _fail_run(session, run, 0, exc.detail, pipeline.user_id)
    await session.flush()
    return run


async def run_now(session: AsyncSession, principal: Principal, pipeline_id: int) -> PipelineRun:
    pipeline = await get_visible(session, principal, pipeline_id, "execute")
    return await start_run(session, pipeline, "manual")


async def step_finished(
    sessions: async_sessionmaker[AsyncSession],
    run_id: int,
    index: int,
    *,
    result: dict[str, Any] | None = None,
    error: str | None = None,
    report: dict[str, Any] | None = None,
) -> None:
    """Record step `index`'s outcome; on success start the next step (or complete the run),
    in the same transaction."""
    async with sessions() as session:
        run = await session.get(PipelineRun, run_id)
        if run is None or run.status != ACTIVE:
            return  # the pipeline or its account was deleted meanwhile
        owner_id = await session.scalar(
            select(Pipeline.user_id).where(Pipeline.id == run.pipeline_id)
        )
        if error is not None:
            await _fail_run(session, run, index, error, owner_id)
        else:
            await _advance(session, run, index, result, report, owner_id)
        await commit(session)


async def _advance(
    session: AsyncSession,
    run: PipelineRun,
    index: int,
    result: dict[str, Any] | None,
    report: dict[str, Any] | None,
    owner_id: int,
) -> None:
    steps = [dict(step) for step in run.steps]
    steps[index].update(status="completed", result=result, finished_at=_now_iso())
    run.steps = steps
    if report is not None:
        run.report = report
    if index + 1 < len(steps):
        try:
            await _start_step(session, run, index + 1, owner_id)
        except AtriumError as exc:
            await _fail_run(session, run, index + 1, exc.detail, owner_id)
        return
    run.status, run.finished_at = "completed", utcnow()
    await cloud_events.emit(
        session,
        user_id=owner_id,
        account_id=run.account_id,
        type="pipeline.completed",
        pipeline_id=str(run.pipeline_id),
        run_id=str(run.id),
    )


async def fire_due(sessions: async_sessionmaker[AsyncSession], now: datetime) -> int:
    """Start a run of every enabled pipeline whose `next_run_at` has passed; returns how many
    this process won."""
    async with sessions() as session:
        due = list(
            await session.execute(
                select(Pipeline.id, Pipeline.next_run_at).where(
                    Pipeline.enabled.is_(True), Pipeline.next_run_at <= now
                )
            )
        )
    fired = 0
    for pipeline_id, due_at in due:
        async with sessions() as session:
            pipeline = await session.get(Pipeline, pipeline_id)
            if pipeline is None or pipeline.next_run_at is None:
                continue
            spec = schedules.ScheduleSpec(
                "pipeline",
                "",
                every_seconds=pipeline.schedule_every_seconds,
                cron=pipeline.schedule_cron,
            )
            following = schedules.next_after(spec, due_at)
            while following <= now:  # periods missed while nothing polled fire once
                following = schedules.next_after(spec, following)
            claimed = await session.execute(
                update(Pipeline)
                .where(Pipeline.id == pipeline_id, Pipeline.next_run_at == due_at)
                .values(next_run_at=following)
                .execution_options(synchronize_session=False)
            )
            if claimed.rowcount != 1:
                await session.rollback()
                continue
            await start_run(session, pipeline, "schedule", record_refusal=True)
            await commit(session)
            fired += 1
    return fired
