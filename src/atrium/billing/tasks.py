"""Billing's background work on the job engine: embedded invoicing and the Lago sync, each a
job kind fired by a schedule whose period is a setting (0 turns the schedule off); a sync
requested over HTTP is a job of the same kind."""

from typing import Any

from fastapi import FastAPI

from atrium.billing import invoicing, sync
from atrium.jobs import schedules
from atrium.jobs.runners import JobContext, runner

INVOICING_SCHEDULE = "billing.invoicing"
SYNC_SCHEDULE = "billing.sync"


@runner(invoicing.KIND, concurrency=1, max_attempts=3, resource="billing")
async def issue_invoices(ctx: JobContext) -> dict[str, Any]:
    return await invoicing.run_invoicing(ctx.sessions)


@runner(sync.KIND, concurrency=1, max_attempts=1, resource="billing")
async def sync_with_lago(ctx: JobContext) -> dict[str, Any]:
    run_id = ctx.payload.get("run_id")
    if run_id is None:
        run_id = await sync.scheduled_run(ctx.sessions, ctx.settings, ctx.job_id)
        if run_id is None:
            return {"skipped": "Lago is not configured, or a sync is already running"}
    run = await sync.perform(ctx.sessions, ctx.settings, int(run_id))
    if run.status == "failed":
        raise RuntimeError(run.error)
    return {"run_id": run.id, "status": run.status, "counts": run.counts}


def _declare(name: str, kind: str, seconds: float) -> None:
    if seconds > 0:
        schedules.schedule(name, kind=kind, every_seconds=max(1, round(seconds)))
    else:
        schedules.forget(name)


def setup(app: FastAPI) -> None:
    settings = app.state.settings
    _declare(INVOICING_SCHEDULE, invoicing.KIND, settings.billing_invoicing_seconds)
    _declare(SYNC_SCHEDULE, sync.KIND, settings.billing_sync_seconds)
