"""Billing's background work shaped as job-engine runners (`ctx.sessions`, `ctx.settings`,
`ctx.payload`), ready to be registered as `billing.invoice` and `billing.sync` jobs."""

from typing import Any

from atrium.billing import invoicing, sync


async def run_invoice_job(ctx: Any) -> dict:
    return await invoicing.run_invoicing(ctx.sessions)


async def run_sync_job(ctx: Any) -> dict:
    await sync.perform(ctx.sessions, ctx.settings, int(ctx.payload["run_id"]))
    async with ctx.sessions() as session:
        run = await session.get(sync.BillingSyncRun, int(ctx.payload["run_id"]))
        return {"status": run.status, "counts": run.counts, "error": run.error}
