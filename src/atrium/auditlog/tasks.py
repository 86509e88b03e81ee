"""Retention: an hourly scheduled job deletes audit rows older than the retention setting."""

from datetime import UTC, datetime, timedelta
from typing import Any

from atrium.auditlog import service as auditlog_service
from atrium.jobs.runners import JobContext, runner
from atrium.jobs.schedules import schedule
from atrium.settings_store import service as settings_service

KIND = "audit_log.retention"
schedule("audit_log.retention", kind=KIND, every_seconds=3600)


@runner(KIND, concurrency=1, max_attempts=3, resource="logs")
async def purge_expired(ctx: JobContext) -> dict[str, Any]:
    async with ctx.sessions() as session:
        days = await settings_service.get_value(session, ctx.settings, "audit_log_retention_days")
        if not days:
            return {"deleted": 0, "retention_days": 0}
        cutoff = datetime.now(UTC) - timedelta(days=int(days))
        deleted = await auditlog_service.purge_older_than(session, cutoff)
        await session.commit()
    return {"deleted": deleted, "retention_days": int(days), "cutoff": cutoff.isoformat()}
