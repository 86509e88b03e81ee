"""Enqueueing through the service and waiting for a job's status, for the job tests."""

import time
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient

from atrium.db import commit
from atrium.jobs import service as jobs_service

WAIT_SECONDS = 30.0
JOB_SETTINGS = {
    "jobs_imports": ["tests.jobs.runners"],
    "jobs_poll_seconds": 0.05,
    "jobs_retry_base_seconds": 0.05,
    "job_lease_seconds": 5.0,
}


def enqueue(
    client: TestClient, app: FastAPI, kind: str, owner_id: int | None, **payload: Any
) -> int:
    """A job enqueued in its own transaction, dispatched after the commit."""

    async def go() -> int:
        async with app.state.db.sessions() as session:
            job = await jobs_service.enqueue(session, kind=kind, owner_id=owner_id, payload=payload)
            await commit(session)
            return job.id

    return client.portal.call(go)


def enqueue_many(
    client: TestClient, app: FastAPI, kind: str, owner_id: int | None, payloads: list[dict]
) -> list[int]:
    """A job per payload, enqueued in one transaction: claimed, run and finished side by side."""

    async def go() -> list[int]:
        async with app.state.db.sessions() as session:
            jobs = [
                await jobs_service.enqueue(session, kind=kind, owner_id=owner_id, payload=payload)
                for payload in payloads
            ]
            await commit(session)
            return [job.id for job in jobs]

    return client.portal.call(go)


def read(client: TestClient, app: FastAPI, job_id: int) -> Any:
    async def go() -> Any:
        async with app.state.db.sessions() as session:
            return await jobs_service.get(session, job_id)

    return client.portal.call(go)


def wait_for(client: TestClient, app: FastAPI, job_id: int, *statuses: str, check=None) -> Any:
    """Poll the row until it reaches one of `statuses` (and `check(job)`), or fail."""
    deadline = time.monotonic() + WAIT_SECONDS
    while True:
        job = read(client, app, job_id)
        if job.status in statuses and (check is None or check(job)):
            return job
        assert time.monotonic() < deadline, f"job {job_id} stuck: {job.status} {job.error}"
        time.sleep(0.02)
