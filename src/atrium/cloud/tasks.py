"""The cloud domain's jobs: discovery (also a pipeline's first step), the pipeline steps waste
analysis and report, and the periodic job that starts due pipeline schedules. A step job's
outcome is recorded on its pipeline run, which then starts the next step or stops."""

from typing import Any

from fastapi import FastAPI

from atrium.cloud import events as cloud_events
from atrium.cloud import pipelines, steps
from atrium.cloud.discovery import run_discovery
from atrium.cloud.kinds import DISCOVERY, PIPELINES_DUE, REPORT, WASTE_ANALYSIS
from atrium.db import utcnow
from atrium.jobs import schedules
from atrium.jobs.runners import JobContext, runner

PIPELINES_SCHEDULE = "cloud.pipelines"


def _step_of(ctx: JobContext) -> tuple[int, int] | None:
    payload = ctx.payload
    if "pipeline_run_id" not in payload:
        return None
    return int(payload["pipeline_run_id"]), int(payload["step"])


async def _record(ctx: JobContext, **outcome: Any) -> None:
    step = _step_of(ctx)
    if step is not None:
        await pipelines.step_finished(ctx.session_factory, step[0], step[1], **outcome)


@runner(DISCOVERY, concurrency=2, max_attempts=1, resource="cloud")
async def discover(ctx: JobContext) -> dict[str, Any]:
    try:
        result = await run_discovery(ctx)
    except Exception as exc:
        await _record(ctx, error=f"{type(exc).__name__}: {exc}")
        raise
    if result["status"] != "completed":
        await _record(ctx, error=result.get("error") or result.get("reason") or result["status"])
        if result["status"] == "failed":
            raise RuntimeError(result["error"])
        return result
    await _record(ctx, result={"counts": result["counts"]})
    return result


@runner(WASTE_ANALYSIS, concurrency=2, max_attempts=1, resource="cloud")
async def analyse_waste(ctx: JobContext) -> dict[str, Any]:
    try:
        result = await steps.analyse_waste(ctx, int(ctx.payload["account_id"]))
    except Exception as exc:
        await _record(ctx, error=str(exc) or type(exc).__name__)
        raise
    await _record(ctx, result=result)
    return result


@runner(REPORT, concurrency=2, max_attempts=1, resource="cloud")
async def write_report(ctx: JobContext) -> dict[str, Any]:
    run_id = int(ctx.payload["pipeline_run_id"])
    try:
        report = await steps.build_report(ctx, int(ctx.payload["account_id"]), run_id)
    except Exception as exc:
        await _record(ctx, error=str(exc) or type(exc).__name__)
        raise
    result = {"findings": report["waste"]["open"], "formats": ["json", "html", "pdf"]}
    await _record(ctx, result=result, report=report)
    return result


@runner(PIPELINES_DUE, concurrency=1, max_attempts=1, resource="cloud")
async def start_due_pipelines(ctx: JobContext) -> dict[str, Any]:
    fired = await pipelines.fire_due(ctx.session_factory, utcnow())
    async with ctx.sessions() as session:
        purged = await cloud_events.purge(session, ctx.settings.cloud_event_retention_days)
        await session.commit()
    return {"started": fired, "events_purged": purged}


def setup(app: FastAPI) -> None:
    """Declare the periodic look for due pipelines (its period is a setting; 0 turns it off)."""
    seconds = app.state.settings.cloud_pipeline_poll_seconds
    if seconds > 0:
        schedules.schedule(
            PIPELINES_SCHEDULE, kind=PIPELINES_DUE, every_seconds=max(1, round(seconds))
        )
    else:
        schedules.forget(PIPELINES_SCHEDULE)
