"""Prometheus counters of the job engine, for the metrics endpoint.

`JOBS` counts, per process, the jobs that reached each status (`atrium_jobs_total{kind,
status}`); `counts_by_kind_status` reads how many jobs are in each status now, from the table.
"""

from functools import cache
from typing import Any

from prometheus_client import Counter
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

JOBS = Counter("atrium_jobs", "Jobs that reached a status, by kind and status", ["kind", "status"])


@cache
def _child(kind: str, status: str) -> Any:
    # `labels()` looks the child up by keyword on every call: several per job on the hot path
    return JOBS.labels(kind=kind, status=status)


def record(kind: str, status: str) -> None:
    _child(kind, status).inc()


async def counts_by_kind_status(session: AsyncSession) -> dict[tuple[str, str], int]:
    from atrium.jobs.tables import Job

    rows = await session.execute(
        select(Job.kind, Job.status, func.count()).group_by(Job.kind, Job.status)
    )
    return {(kind, status): count for kind, status, count in rows}
