"""Crash recovery and exclusivity with real processes: API servers on the local executor
and Celery workers, all sharing the test database. The test app's own engine is stopped,
so only those processes run jobs."""

import time
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from tests import services
from tests.jobs.helpers import JOB_SETTINGS, enqueue, wait_for
from tests.jobs.processes import start_server, start_worker
from tests.jobs.test_schedules import _jobs_with_marker, _store

LEASE = 10.0  # far above the stalls of a loaded two-core machine: an expired lease is re-run


@pytest.fixture(scope="module")
def settings_overrides() -> dict[str, object]:
    url = services.redis_server()
    if url is None:
        services.unavailable("Redis")
    return {
        **JOB_SETTINGS,
        "job_lease_seconds": LEASE,
        "redis_url": url,
        "celery_queue": f"atrium-test-{uuid.uuid4().hex[:10]}",
    }


@pytest.fixture(scope="module", autouse=True)
def engine_stopped(app, client):
    client.portal.call(app.state.jobs.stop)


@pytest.fixture
def processes(app, tmp_path):
    started = []
    settings = app.state.settings

    def server():
        process, _base = start_server(settings, tmp_path / f"server-{len(started)}.log")
        started.append(process)
        return process

    def worker():
        process = start_worker(settings, tmp_path / f"worker-{len(started)}.log")
        started.append(process)
        return process

    yield server, worker
    for process in started:
        process.stop()


def _crash_and_recover(client, app, user, tmp_path, start):
    log = tmp_path / "steps.log"
    job_id = enqueue(
        client, app, "test.steps", user.id, steps=4, gate_dir=str(tmp_path), log=str(log)
    )
    if start.__name__ == "worker":  # the broker has it; the API process does not run jobs
        from atrium.jobs.celery_app import make_dispatcher

        client.portal.call(make_dispatcher(app.state.settings), job_id)
    first = start()
    (tmp_path / "go-0").touch()
    (tmp_path / "go-1").touch()
    wait_for(client, app, job_id, "running", check=lambda job: job.checkpoint == {"next": 2})
    first.kill()
    assert wait_for(client, app, job_id, "running").checkpoint == {"next": 2}

    start()  # claims the orphan once its lease has expired, from the checkpoint
    (tmp_path / "go-2").touch()
    (tmp_path / "go-3").touch()
    job = wait_for(client, app, job_id, "completed")
    assert log.read_text().split() == ["0", "1", "2", "3"]  # no step done twice
    assert job.attempts == 2 and job.result["pid"] != first.popen.pid


def test_sigkill_of_a_server_then_another_finishes_from_the_checkpoint(
    client, app, create_user, tmp_path, processes
):
    server, _worker = processes
    _crash_and_recover(client, app, create_user("user"), tmp_path, server)


def test_sigkill_of_a_celery_worker_then_another_finishes_from_the_checkpoint(
    client, app, create_user, tmp_path, processes
):
    _server, worker = processes
    _crash_and_recover(client, app, create_user("user"), tmp_path, worker)


def _run_many(client, app, user, log, count) -> list[int]:
    job_ids = [enqueue(client, app, "test.record", user.id, log=str(log)) for _ in range(count)]
    for job_id in job_ids:
        wait_for(client, app, job_id, "completed")
    return job_ids


def test_two_servers_never_run_the_same_job(client, app, create_user, tmp_path, processes):
    server, _worker = processes
    server(), server()
    log = tmp_path / "record.log"
    job_ids = _run_many(client, app, create_user("user"), log, 40)
    runs = Counter(int(line.split()[0]) for line in log.read_text().splitlines())
    assert runs == Counter({job_id: 1 for job_id in job_ids})


def test_two_workers_never_run_the_same_job_even_when_sent_twice(
    client, app, create_user, tmp_path, processes
):
    from atrium.jobs.celery_app import make_dispatcher

    _server, worker = processes
    worker(), worker()
    dispatch = make_dispatcher(app.state.settings)
    log = tmp_path / "record.log"
    user = create_user("user")
    job_ids = [enqueue(client, app, "test.record", user.id, log=str(log)) for _ in range(30)]
    for job_id in job_ids + job_ids:  # every message twice
        client.portal.call(dispatch, job_id)
    for job_id in job_ids:
        wait_for(client, app, job_id, "completed")
    time.sleep(0.5)  # the duplicates have been consumed by now, or are being
    runs = Counter(int(line.split()[0]) for line in log.read_text().splitlines())
    twice = [job_id for job_id, count in runs.items() if count > 1]
    assert runs == Counter({job_id: 1 for job_id in job_ids}), _events_of(client, app, twice)


def _events_of(client, app, job_ids):
    from atrium.jobs import service as jobs_service

    async def go():
        async with app.state.db.sessions() as session:
            return {
                job_id: [
                    (e.type, e.created_at.isoformat(), e.data.get("attempt"))
                    for e in await jobs_service.events_after(session, job_id)
                ]
                for job_id in job_ids
            }

    return client.portal.call(go)


def test_a_due_schedule_fires_once_with_two_server_processes(client, app, processes):
    from atrium.jobs import schedules

    server, _worker = processes
    server(), server()
    marker = uuid.uuid4().hex
    spec = schedules.ScheduleSpec(
        f"two-servers-{marker}", "test.noop", every_seconds=3600, payload={"marker": marker}
    )
    _store(client, app, spec, datetime.now(UTC) - timedelta(seconds=1))
    deadline = time.monotonic() + 30
    while not _jobs_with_marker(client, app, marker):
        assert time.monotonic() < deadline, "the schedule never fired"
        time.sleep(0.05)
    time.sleep(1.0)  # both servers have polled many times since
    assert len(_jobs_with_marker(client, app, marker)) == 1
