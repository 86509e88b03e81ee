"""`/api/v1/jobs` on the local executor: runs, progress, control, retries, authorisation."""

import os
import time

import pytest

from tests.jobs.helpers import JOB_SETTINGS, enqueue, enqueue_many, wait_for


@pytest.fixture(scope="module")
def settings_overrides() -> dict[str, object]:
    return dict(JOB_SETTINGS)


def test_a_multi_step_job_runs_with_progress_and_events(client, app, create_user):
    user = create_user("user")
    job_id = enqueue(client, app, "test.steps", user.id, steps=3)
    wait_for(client, app, job_id, "completed")

    body = client.get(f"/api/v1/jobs/{job_id}", headers=user.headers).json()
    assert body["id"] == str(job_id) and body["owner_id"] == str(user.id)
    assert body["status"] == "completed" and body["progress"] == 1.0
    assert body["result"]["steps"] == 3 and body["attempts"] == 1
    assert body["stage"] == "step 3 of 3" and body["finished_at"] is not None
    assert "checkpoint" not in body

    stream = client.get(f"/api/v1/jobs/{job_id}/events", headers=user.headers)
    assert stream.status_code == 200
    assert stream.headers["content-type"].startswith("text/event-stream")
    frames = [f for f in stream.text.split("\n\n") if f.startswith("id:")]
    types = [f.split("\n")[1].removeprefix("event: ") for f in frames]
    assert types == ["started", "progress", "progress", "progress", "completed"]
    assert [int(f.split("\n")[0].removeprefix("id: ")) for f in frames] == [1, 2, 3, 4, 5]

    resumed = client.get(
        f"/api/v1/jobs/{job_id}/events", headers={**user.headers, "Last-Event-ID": "3"}
    )
    ids = [f.split("\n")[0] for f in resumed.text.split("\n\n") if f.startswith("id:")]
    assert ids == ["id: 4", "id: 5"]


def test_jobs_finishing_together_keep_their_own_outcomes_and_events(client, app, create_user):
    user = create_user("user")
    job_ids = enqueue_many(client, app, "test.noop", user.id, [{}] * 40)
    for job_id in job_ids:
        wait_for(client, app, job_id, "completed")
    for job_id in job_ids:
        body = client.get(f"/api/v1/jobs/{job_id}", headers=user.headers).json()
        assert body["status"] == "completed" and body["progress"] == 1.0
        assert body["attempts"] == 1 and body["result"] is None and body["finished_at"]
        stream = client.get(f"/api/v1/jobs/{job_id}/events", headers=user.headers)
        frames = [f.split("\n") for f in stream.text.split("\n\n") if f.startswith("id:")]
        assert [(f[0], f[1]) for f in frames] == [
            ("id: 1", "event: started"),
            ("id: 2", "event: completed"),
        ]


def test_jobs_claimed_together_keep_their_leases_when_one_ends(client, app, create_user, tmp_path):
    user = create_user("user")
    quick_gates, slow_gates = tmp_path / "quick", tmp_path / "slow"
    quick_gates.mkdir(), slow_gates.mkdir()
    (quick_gates / "go-0").touch()
    quick, slow = enqueue_many(
        client,
        app,
        "test.steps",
        user.id,
        [{"steps": 1, "gate_dir": str(gates)} for gates in (quick_gates, slow_gates)],
    )
    wait_for(client, app, quick, "completed")
    time.sleep(JOB_SETTINGS["job_lease_seconds"] * 1.5)  # the slow one's lease is renewed
    (slow_gates / "go-0").touch()
    assert wait_for(client, app, slow, "completed").attempts == 1


def test_protected_routes_refuse_strangers(client, app, create_user):
    owner, other = create_user("user"), create_user("user")
    job_id = enqueue(client, app, "test.steps", owner.id, steps=1)
    wait_for(client, app, job_id, "completed")
    assert client.get(f"/api/v1/jobs/{job_id}").status_code == 401
    assert client.get("/api/v1/jobs").status_code == 401
    for method, path in (
        ("get", ""),
        ("get", "/events"),
        ("post", "/pause"),
        ("post", "/resume"),
        ("post", "/cancel"),
        ("delete", ""),
    ):
        response = client.request(method, f"/api/v1/jobs/{job_id}{path}", headers=other.headers)
        assert response.status_code == 404, (method, path)
        assert response.json()["code"] == "job_not_found"
    assert client.get("/api/v1/jobs/999999999", headers=owner.headers).status_code == 404
    assert client.get("/api/v1/jobs/0", headers=owner.headers).status_code == 422
    assert client.get(f"/api/v1/jobs/{2**63}", headers=owner.headers).status_code == 422


def test_list_is_own_by_default_and_wider_by_reach(client, app, create_user, admin):
    first, second = create_user("user"), create_user("user")
    mine = [enqueue(client, app, "test.steps", first.id, steps=1) for _ in range(3)]
    theirs = enqueue(client, app, "test.fail", second.id)
    for job_id in [*mine, theirs]:
        wait_for(client, app, job_id, "completed", "failed")

    listed = client.get("/api/v1/jobs", headers=first.headers).json()
    assert [job["id"] for job in listed] == [str(j) for j in reversed(mine)]

    page = client.get("/api/v1/jobs?limit=2", headers=first.headers)
    assert len(page.json()) == 2
    cursor = page.headers["X-Next-Cursor"]
    rest = client.get(f"/api/v1/jobs?limit=2&cursor={cursor}", headers=first.headers)
    assert [job["id"] for job in rest.json()] == [str(mine[0])]
    assert "X-Next-Cursor" not in rest.headers

    everyone = client.get("/api/v1/jobs?limit=1000", headers=admin.headers).json()
    assert {str(theirs), *map(str, mine)} <= {job["id"] for job in everyone}
    failed = client.get("/api/v1/jobs?status=failed&kind=test.fail", headers=admin.headers)
    assert str(theirs) in [job["id"] for job in failed.json()]
    assert all(job["status"] == "failed" for job in failed.json())
    assert client.get("/api/v1/jobs?kind=test.steps", headers=second.headers).json() == []

    unknown = client.get("/api/v1/jobs?kind=no.such.kind", headers=first.headers)
    assert unknown.status_code == 422 and unknown.json()["code"] == "unknown_job_kind"
    assert client.get("/api/v1/jobs?status=sleeping", headers=first.headers).status_code == 422
    assert client.get("/api/v1/jobs?limit=1001", headers=first.headers).status_code == 422


def test_jobs_are_authorised_by_their_domains_resource(client, app, create_user, admin):
    viewer = create_user("viewer")  # reads projects, may not change them
    job_id = enqueue(client, app, "test.steps", viewer.id, steps=1)
    wait_for(client, app, job_id, "completed")
    assert client.get(f"/api/v1/jobs/{job_id}", headers=viewer.headers).status_code == 200
    refused = client.delete(f"/api/v1/jobs/{job_id}", headers=viewer.headers)
    assert refused.status_code == 403

    system_job = enqueue(client, app, "test.system", viewer.id)
    wait_for(client, app, system_job, "completed")
    assert client.get(f"/api/v1/jobs/{system_job}", headers=viewer.headers).status_code == 404
    assert client.get(f"/api/v1/jobs/{system_job}", headers=admin.headers).status_code == 200


def test_pause_then_resume_continues_from_the_checkpoint(client, app, create_user, tmp_path):
    user = create_user("user")
    log = tmp_path / "steps.log"
    job_id = enqueue(
        client, app, "test.steps", user.id, steps=4, gate_dir=str(tmp_path), log=str(log)
    )
    (tmp_path / "go-0").touch()
    wait_for(client, app, job_id, "running", check=lambda job: job.progress >= 0.25)

    paused = client.post(f"/api/v1/jobs/{job_id}/pause", headers=user.headers)
    assert paused.status_code == 200 and paused.json()["stop_requested"] == "pause"
    (tmp_path / "go-1").touch()  # step 1 runs, checkpoints, then the runner stops
    job = wait_for(client, app, job_id, "paused")
    assert job.checkpoint == {"next": 2}

    again = client.post(f"/api/v1/jobs/{job_id}/pause", headers=user.headers)
    assert again.status_code == 409
    assert again.json()["code"] == "invalid_status_transition"
    assert again.json()["allowed"] == ["resume", "cancel"]

    resumed = client.post(f"/api/v1/jobs/{job_id}/resume", headers=user.headers)
    assert resumed.status_code == 200 and resumed.json()["status"] == "running"
    (tmp_path / "go-2").touch()
    (tmp_path / "go-3").touch()
    wait_for(client, app, job_id, "completed")
    assert log.read_text().split() == ["0", "1", "2", "3"]  # no step done twice


def test_cancel_stops_within_one_step(client, app, create_user, tmp_path):
    user = create_user("user")
    log = tmp_path / "steps.log"
    job_id = enqueue(
        client, app, "test.steps", user.id, steps=5, gate_dir=str(tmp_path), log=str(log)
    )
    (tmp_path / "go-0").touch()
    # step 0 checkpointed: it asks whether to stop right after, before the cancel comes
    wait_for(client, app, job_id, "running", check=lambda job: job.checkpoint == {"next": 1})
    cancelled = client.post(f"/api/v1/jobs/{job_id}/cancel", headers=user.headers)
    assert cancelled.status_code == 200 and cancelled.json()["stop_requested"] == "cancel"
    for step in range(1, 5):
        (tmp_path / f"go-{step}").touch()
    job = wait_for(client, app, job_id, "cancelled")
    assert log.read_text().split() == ["0", "1"]
    assert job.error == "cancelled" and job.finished_at is not None

    refused = client.post(f"/api/v1/jobs/{job_id}/resume", headers=user.headers)
    assert refused.status_code == 409 and refused.json()["allowed"] == []


def test_queued_jobs_pause_and_cancel_directly(client, app, create_user):
    user = create_user("user")
    from datetime import UTC, datetime, timedelta

    from atrium.db import commit
    from atrium.jobs import service as jobs_service

    async def later() -> int:
        async with app.state.db.sessions() as session:
            job = await jobs_service.enqueue(
                session,
                kind="test.steps",
                owner_id=user.id,
                payload={"steps": 1},
                run_after=datetime.now(UTC) + timedelta(hours=1),
            )
            await commit(session)
            return job.id

    job_id = client.portal.call(later)
    paused = client.post(f"/api/v1/jobs/{job_id}/pause", headers=user.headers).json()
    assert paused["status"] == "paused"
    resumed = client.post(f"/api/v1/jobs/{job_id}/resume", headers=user.headers).json()
    assert resumed["status"] == "running" and resumed["stage"] == "waiting for a worker"
    wait_for(client, app, job_id, "completed")  # resumed: runs now, not in an hour

    waiting = client.portal.call(later)
    assert client.delete(f"/api/v1/jobs/{waiting}", headers=user.headers).status_code == 409
    cancelled = client.post(f"/api/v1/jobs/{waiting}/cancel", headers=user.headers).json()
    assert cancelled["status"] == "cancelled"
    deleted = client.delete(f"/api/v1/jobs/{waiting}", headers=user.headers)
    assert deleted.status_code == 200 and deleted.json() == {"id": str(waiting), "deleted": True}
    assert client.get(f"/api/v1/jobs/{waiting}", headers=user.headers).status_code == 404


def test_retryable_errors_retry_then_succeed_or_fail(client, app, create_user):
    user = create_user("user")
    recovered = enqueue(client, app, "test.flaky", user.id, succeed_on=3)
    job = wait_for(client, app, recovered, "completed")
    assert job.attempts == 3 and job.result == {"attempt": 3}

    exhausted = enqueue(client, app, "test.flaky", user.id, succeed_on=9)
    job = wait_for(client, app, exhausted, "failed")
    assert job.attempts == 3 and job.error == "hiccup on attempt 3"

    broken = enqueue(client, app, "test.fail", user.id)
    job = wait_for(client, app, broken, "failed")
    assert job.attempts == 1 and job.error == "boom"


def test_domain_events_are_rows(client, app, create_user):
    user = create_user("user")
    job_id = enqueue(client, app, "test.emit", user.id)
    wait_for(client, app, job_id, "completed")
    stream = client.get(f"/api/v1/jobs/{job_id}/events", headers=user.headers).text
    assert "event: test.note" in stream and '"files":120' in stream


def test_cpu_heavy_runner_runs_in_a_subprocess(client, app, create_user):
    user = create_user("user")
    job_id = enqueue(client, app, "test.heavy", user.id)
    job = wait_for(client, app, job_id, "completed", "failed")
    assert job.status == "completed", job.error
    assert job.result["pid"] != os.getpid()
    assert job.progress == 1.0 and job.stage == "summed"


def test_unknown_kind_cannot_be_enqueued(client, app):
    from atrium.jobs.errors import UnknownJobKind

    with pytest.raises(UnknownJobKind):
        enqueue(client, app, "no.such.kind", None)
