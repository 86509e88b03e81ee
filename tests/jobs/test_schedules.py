"""Schedules: stored in the database, fired once per due time by whichever process wins."""

import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, update

from atrium.app import create_app
from atrium.jobs import schedules
from atrium.jobs.tables import Job, JobSchedule
from tests.jobs.helpers import JOB_SETTINGS


@pytest.fixture(scope="module")
def settings_overrides() -> dict[str, object]:
    return dict(JOB_SETTINGS)


def _store(client, app, spec: schedules.ScheduleSpec, due: datetime) -> None:
    async def go() -> None:
        async with app.state.db.sessions() as session:
            row = await schedules.upsert(session, spec)
            row.next_run_at = due
            await session.commit()

    client.portal.call(go)


def _jobs_with_marker(client, app, marker: str) -> list[Job]:
    async def go() -> list[Job]:
        async with app.state.db.sessions() as session:
            rows = await session.scalars(select(Job).where(Job.kind == "test.noop"))
            return [job for job in rows if job.payload.get("marker") == marker]

    return client.portal.call(go)


def _schedule(client, app, name: str) -> JobSchedule:
    async def go() -> JobSchedule:
        async with app.state.db.sessions() as session:
            return await session.scalar(select(JobSchedule).where(JobSchedule.name == name))

    return client.portal.call(go)


def test_a_due_schedule_fires_once_with_two_processes(client, app):
    marker = uuid.uuid4().hex
    spec = schedules.ScheduleSpec(
        f"once-{marker}", "test.noop", every_seconds=3600, payload={"marker": marker}
    )
    with TestClient(create_app(app.state.settings)) as other:
        _store(client, app, spec, datetime.now(UTC) - timedelta(seconds=1))
        deadline = time.monotonic() + 30
        while not _jobs_with_marker(client, app, marker):
            assert time.monotonic() < deadline, "the schedule never fired"
            time.sleep(0.05)
        time.sleep(20 * JOB_SETTINGS["jobs_poll_seconds"])  # both engines polled again since
        assert other.app.state.jobs is not app.state.jobs
    jobs = _jobs_with_marker(client, app, marker)
    assert len(jobs) == 1
    row = _schedule(client, app, spec.name)
    assert row.last_job_id == jobs[0].id and jobs[0].owner_id is None
    assert row.next_run_at > datetime.now(UTC) + timedelta(minutes=59)


def test_missed_periods_fire_once_and_the_clock_moves_on(client, app):
    marker = uuid.uuid4().hex
    spec = schedules.ScheduleSpec(
        f"missed-{marker}", "test.noop", every_seconds=60, payload={"marker": marker}
    )
    _store(client, app, spec, datetime.now(UTC) - timedelta(hours=5))
    deadline = time.monotonic() + 30
    while not _jobs_with_marker(client, app, marker):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    time.sleep(10 * JOB_SETTINGS["jobs_poll_seconds"])
    assert len(_jobs_with_marker(client, app, marker)) == 1
    assert _schedule(client, app, spec.name).next_run_at > datetime.now(UTC)


def test_cron_schedules_compute_their_next_time(client, app):
    spec = schedules.ScheduleSpec("nightly", "test.noop", cron="30 3 * * *")
    after = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    assert schedules.next_after(spec, after) == datetime(2026, 1, 2, 3, 30, tzinfo=UTC)
    with pytest.raises(ValueError):
        schedules.schedule("bad", kind="test.noop", cron="not cron")
    with pytest.raises(ValueError):
        schedules.schedule("both", kind="test.noop", cron="* * * * *", every_seconds=5)


def test_declared_schedules_are_stored_at_start_and_keep_their_clock(client, app):
    name = f"declared-{uuid.uuid4().hex}"
    schedules.schedule(name, kind="test.noop", every_seconds=3600)
    with TestClient(create_app(app.state.settings)):
        first = _schedule(client, app, name)
    with TestClient(create_app(app.state.settings)):
        second = _schedule(client, app, name)
    assert first.every_seconds == 3600 and second.next_run_at == first.next_run_at

    async def disable() -> int:
        async with app.state.db.sessions() as session:
            await session.execute(
                update(JobSchedule).where(JobSchedule.name == name).values(enabled=False)
            )
            await session.commit()
            return await session.scalar(select(func.count()).select_from(JobSchedule))

    assert client.portal.call(disable) >= 1
