"""The same job tests on the Celery executor: a real worker process, real Redis."""

import uuid

import pytest

from tests import services
from tests.jobs.helpers import JOB_SETTINGS, enqueue, wait_for
from tests.jobs.processes import start_worker
from tests.jobs.test_job_sockets import (  # noqa: F401 - the same checks, run by a worker
    test_progress_reaches_a_websocket_live,
)
from tests.jobs.test_jobs_api import (  # noqa: F401 - the same checks, run by a worker
    test_a_multi_step_job_runs_with_progress_and_events,
    test_cancel_stops_within_one_step,
    test_cpu_heavy_runner_runs_in_a_subprocess,
    test_domain_events_are_rows,
    test_jobs_finishing_together_keep_their_own_outcomes_and_events,
    test_pause_then_resume_continues_from_the_checkpoint,
    test_queued_jobs_pause_and_cancel_directly,
    test_retryable_errors_retry_then_succeed_or_fail,
)


@pytest.fixture(scope="module")
def settings_overrides() -> dict[str, object]:
    url = services.redis_server()
    if url is None:
        services.unavailable("Redis")
    return {
        **JOB_SETTINGS,
        "redis_url": url,
        "jobs_executor": "celery",
        "celery_queue": f"atrium-test-{uuid.uuid4().hex[:10]}",
    }


@pytest.fixture(scope="module", autouse=True)
def worker(app, client, tmp_path_factory):
    process = start_worker(app.state.settings, tmp_path_factory.mktemp("worker") / "worker.log")
    yield process
    process.stop()


def test_the_api_only_dispatches(client, app, create_user, worker):
    assert app.state.jobs.role == "dispatch" and not app.state.jobs._loops[1:]
    user = create_user("user")
    job = wait_for(client, app, enqueue(client, app, "test.steps", user.id, steps=2), "completed")
    assert job.result["pid"] == worker.popen.pid
