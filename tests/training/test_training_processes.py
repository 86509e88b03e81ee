"""The trainer in its own process, as the local executor runs a CPU-heavy runner: an `atrium
serve` process claims the job and trains it in a child; the child is SIGKILLed mid-run and the
server, once the lease has expired, runs the job again from its last checkpoint. The test
app's own engine is stopped, so only that server runs jobs."""

import signal
import time

import psutil
import pytest

from atrium.jobs import service as jobs_service
from tests.jobs.processes import start_server
from tests.training.helpers import (
    BASE_MODEL,
    build_tiny_model,
    job_body,
    jsonl,
    models_dir,
    requires_training,
    rows,
    upload_dataset,
    wait_for,
)

pytestmark = requires_training
JOBS = "/api/v1/training/jobs"
LEASE = 8.0  # above the stalls of a loaded two-core machine; a killed run waits this long


@pytest.fixture(scope="module")
def settings_overrides() -> dict[str, object]:
    return {"jobs_poll_seconds": 0.2, "job_lease_seconds": LEASE, "training_cpu_threads": 1}


@pytest.fixture(scope="module", autouse=True)
def engine_stopped(app, client):
    client.portal.call(app.state.jobs.stop)


def _training_child(server) -> psutil.Process | None:
    for child in psutil.Process(server.popen.pid).children(recursive=True):
        if "atrium.jobs.child" in " ".join(child.cmdline()):
            return child
    return None


def _events(client, app, job_id: str) -> list:
    async def go():
        async with app.state.db.sessions() as session:
            return await jobs_service.events_after(session, int(job_id), 0, 5000)

    return client.portal.call(go)


def test_sigkill_of_the_training_process_resumes_from_the_checkpoint(
    client, app, create_user, tmp_path
):
    build_tiny_model(models_dir(app) / BASE_MODEL)
    developer = create_user("developer")
    dataset = upload_dataset(client, developer.headers, jsonl(rows()))
    server, _base = start_server(app.state.settings, tmp_path / "server.log")
    try:
        total = 300
        body = job_body(dataset, max_steps=total, checkpoint_every=5)
        training_id = client.post(JOBS, json=body, headers=developer.headers).json()["id"]
        wait_for(client, developer.headers, training_id, "running",
                 check=lambda job: job["progress"] * total >= 12)  # fmt: skip
        child = _training_child(server)
        assert child is not None, server.tail()
        child.send_signal(signal.SIGKILL)
        child.wait(10)
        killed_at = time.monotonic()

        job = wait_for(client, developer.headers, training_id, "completed")
        assert time.monotonic() - killed_at < 120
        assert [p["step"] for p in job["metrics"]["loss_history"]] == list(range(1, total + 1))
        starts = [
            e.data["data"]
            for e in _events(client, app, job["job_id"])
            if e.type == "training_started"
        ]
        assert starts[0] == {**starts[0], "step": 0, "resumed": False}
        assert len(starts) == 2 and starts[1]["resumed"] is True
        assert starts[1]["step"] >= 10 and starts[1]["step"] % 5 == 0  # the last checkpoint
    finally:
        server.stop()
