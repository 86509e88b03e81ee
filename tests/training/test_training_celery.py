"""The training flow on the Celery executor: the API only dispatches, a real `atrium worker`
process (real Redis) trains; the same checks as on the local executor."""

import uuid

import pytest

from tests import services
from tests.jobs.processes import start_worker
from tests.training.helpers import requires_training
from tests.training.test_training_jobs import (  # noqa: F401 - the same checks, run by a worker
    test_a_job_trains_its_steps_and_its_loss_falls,
    test_pause_then_resume_ends_at_exactly_the_requested_steps,
)

pytestmark = requires_training


@pytest.fixture(scope="module")
def settings_overrides() -> dict[str, object]:
    url = services.redis_server()
    if url is None:
        services.unavailable("Redis")
    return {
        "jobs_poll_seconds": 0.05,
        "training_cpu_threads": 1,
        "job_lease_seconds": 30.0,
        "redis_url": url,
        "jobs_executor": "celery",
        "celery_queue": f"atrium-test-{uuid.uuid4().hex[:10]}",
    }


@pytest.fixture(scope="module", autouse=True)
def worker(app, client, tmp_path_factory):
    process = start_worker(app.state.settings, tmp_path_factory.mktemp("worker") / "worker.log")
    yield process
    process.stop()


def test_the_api_only_dispatches(app, worker):
    assert app.state.jobs.role == "dispatch"
