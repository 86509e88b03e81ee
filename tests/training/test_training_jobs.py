"""Training jobs end to end on a tiny model: they train, pause and resume at the same step,
cancel within a step, install an adapter that loads and generates, and refuse bad input.

The runner runs in the test app's own process here (`jobs_subprocess_heavy` off), which keeps
the module fast; `test_training_processes.py` runs it in its subprocess and kills it."""

import sys

from tests.training.helpers import (
    BASE_MODEL,
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


def _events(client, app, job_id: str) -> list:
    from atrium.jobs import service as jobs_service

    async def go():
        async with app.state.db.sessions() as session:
            return await jobs_service.events_after(session, int(job_id), 0, 5000)

    return client.portal.call(go)


def test_a_job_trains_its_steps_and_its_loss_falls(client, app, developer, dataset):
    created = client.post(JOBS, json=job_body(dataset, max_steps=30), headers=developer.headers)
    assert created.status_code == 202, created.text
    assert created.headers["Location"] == f"{JOBS}/{created.json()['id']}"
    body = created.json()
    assert body["status"] in ("queued", "running")
    assert body["adapter_type"] == "lora" and body["lora_config"]["rank"] == 8

    job = wait_for(client, developer.headers, body["id"], "completed")
    metrics = job["metrics"]
    history = metrics["loss_history"]
    assert [point["step"] for point in history] == list(range(1, 31))
    assert metrics["steps_completed"] == metrics["total_steps"] == 30
    assert sum(p["loss"] for p in history[-5:]) < sum(p["loss"] for p in history[:5])
    assert metrics["tokens_processed"] > 0 and metrics["tokens_per_second"] > 0
    assert job["progress"] == 1.0 and job["completed_at"] and job["started_at"]
    steps = [
        e.data["data"]["step"] for e in _events(client, app, job["job_id"]) if e.type == "metrics"
    ]
    assert steps == list(range(1, 31))

    # the adapter is a local model of the registry, and it loads and generates
    listed = client.get("/api/v1/models/local", headers=developer.headers).json()
    trained = next(model for model in listed if model["id"] == job["adapter_id"])
    assert job["adapter_id"].startswith("trained/") and "lora" in trained["tags"]
    vault = client.get(f"/vault/training/jobs/{job['id']}", headers=developer.headers).json()
    assert vault["progress"] == 100.0 and vault["metrics"]["loss_history"] == history

    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    base = AutoModelForCausalLM.from_pretrained(models_dir(app) / BASE_MODEL)
    model = PeftModel.from_pretrained(base, trained["path"])
    tokenizer = AutoTokenizer.from_pretrained(trained["path"])
    inputs = tokenizer("what colour is the sky ?", return_tensors="pt")
    output = model.generate(**inputs, max_new_tokens=4, do_sample=False, pad_token_id=0)
    assert output.shape[1] > inputs["input_ids"].shape[1]


def test_pause_then_resume_ends_at_exactly_the_requested_steps(client, developer, dataset):
    total = 60
    training_id = client.post(
        JOBS, json=job_body(dataset, max_steps=total, checkpoint_every=1000),
        headers=developer.headers,
    ).json()["id"]  # fmt: skip
    wait_for(client, developer.headers, training_id, "running",
             check=lambda job: job["progress"] * total >= 10)  # fmt: skip
    paused = client.post(f"{JOBS}/{training_id}/pause", json={}, headers=developer.headers)
    assert paused.status_code == 200, paused.text
    job = wait_for(client, developer.headers, training_id, "paused")
    at = job["metrics"]["steps_completed"]
    assert 10 <= at < total and round(job["progress"] * total) == at

    again = client.post(f"{JOBS}/{training_id}/pause", json={}, headers=developer.headers)
    assert again.status_code == 409 and again.json()["code"] == "invalid_status_transition"
    assert again.json()["allowed"] == ["resume", "cancel"]

    resumed = client.post(f"{JOBS}/{training_id}/resume", json={}, headers=developer.headers)
    assert resumed.status_code == 200 and resumed.json()["status"] == "running"
    job = wait_for(client, developer.headers, training_id, "completed")
    history = [point["step"] for point in job["metrics"]["loss_history"]]
    assert history == list(range(1, total + 1))  # no step twice, none missing
    assert job["metrics"]["steps_completed"] == total


def test_cancel_stops_within_one_step_and_a_queued_job_does_not_pause(client, developer, dataset):
    total = 5000
    long_id = client.post(JOBS, json=job_body(dataset, max_steps=total),
                          headers=developer.headers).json()["id"]  # fmt: skip
    wait_for(client, developer.headers, long_id, "running",
             check=lambda job: job["progress"] * total >= 3)  # fmt: skip
    # one training job runs at a time per process: the second waits, queued
    queued = client.post(JOBS, json=job_body(dataset, max_steps=5), headers=developer.headers)
    queued_id = queued.json()["id"]
    refused = client.post(f"{JOBS}/{queued_id}/pause", json={}, headers=developer.headers)
    assert refused.status_code == 409, refused.text
    assert refused.json()["code"] == "invalid_status_transition"
    assert refused.json()["allowed"] == ["cancel"]

    running = client.delete(f"{JOBS}/{long_id}", headers=developer.headers)
    assert running.status_code == 409 and running.json()["allowed"] == ["cancel"]

    cancelled = client.post(f"{JOBS}/{long_id}/cancel", json={}, headers=developer.headers)
    assert cancelled.status_code == 200, cancelled.text
    at_request = round(cancelled.json()["progress"] * total)
    job = wait_for(client, developer.headers, long_id, "cancelled")
    assert job["metrics"]["steps_completed"] <= at_request + 1
    assert job["adapter_id"] is None

    gone = client.post(f"{JOBS}/{queued_id}/cancel", json={}, headers=developer.headers)
    assert gone.json()["status"] in ("cancelled", "running")
    wait_for(client, developer.headers, queued_id, "cancelled", "completed")
    for training_id in (long_id, queued_id):
        deleted = client.delete(f"{JOBS}/{training_id}", headers=developer.headers)
        assert deleted.status_code == 200 and deleted.json()["deleted"] is True
        missing = client.get(f"{JOBS}/{training_id}", headers=developer.headers)
        assert missing.status_code == 404


def test_bad_input_is_a_clear_4xx(client, developer, dataset, create_user, monkeypatch):
    post = lambda body: client.post(JOBS, json=body, headers=developer.headers)  # noqa: E731

    unknown = post({**job_body(dataset), "model": "nobody/no-such-model"})
    assert unknown.status_code == 422 and unknown.json()["code"] == "unknown_base_model"

    stranger = create_user("developer")
    theirs = upload_dataset(client, stranger.headers, jsonl(rows()))
    foreign = post(job_body(theirs))
    assert foreign.status_code == 404 and foreign.json()["code"] == "file_not_found"

    broken = upload_dataset(
        client, developer.headers, b'{"prompt": "a", "completion": "b"}\nnot json\n{"x": 1}\n'
    )
    malformed = post(job_body(broken))
    assert malformed.status_code == 422 and malformed.json()["code"] == "invalid_dataset"
    assert [entry["line"] for entry in malformed.json()["lines"]] == [2, 3]
    assert "line 2" in malformed.json()["detail"] and "line 3" in malformed.json()["detail"]

    negative = post(job_body(dataset, learning_rate=-0.1))
    assert negative.status_code == 422

    quantized = post({**job_body(dataset), "lora_config": {"rank": 8, "quantization_bits": 4}})
    assert quantized.status_code == 422
    assert "quantization_bits" in quantized.json()["detail"]

    vault_path = client.post("/vault/training/jobs", json=job_body("/etc/passwd"),
                             headers=developer.headers)  # fmt: skip
    assert vault_path.status_code == 422 and vault_path.json()["code"] == "invalid_dataset"

    monkeypatch.setitem(sys.modules, "torch", None)  # as if the extra were not installed
    unavailable = post(job_body(dataset))
    assert unavailable.status_code == 503
    assert "atrium[training]" in unavailable.json()["detail"]


def test_other_users_and_roles(client, developer, dataset, create_user):
    created = client.post(
        "/vault/training/jobs", json=job_body(dataset, max_steps=2), headers=developer.headers
    )
    assert created.status_code == 201, created.text
    training_id = created.json()["id"]
    other = create_user("developer")
    for method, path in (
        ("get", f"{JOBS}/{training_id}"),
        ("post", f"{JOBS}/{training_id}/pause"),
        ("post", f"{JOBS}/{training_id}/cancel"),
        ("delete", f"{JOBS}/{training_id}"),
        ("get", f"/vault/training/jobs/{training_id}"),
    ):
        assert client.request(method, path, headers=other.headers).status_code == 404
    assert client.get(JOBS, headers=other.headers).json() == {"jobs": [], "total": 0}
    assert client.get(JOBS).status_code == 401
    plain = create_user("user")  # no training grant by default
    assert client.get(JOBS, headers=plain.headers).status_code == 403
    listed = client.get("/vault/training/jobs", headers=developer.headers).json()
    assert training_id in [job["id"] for job in listed["jobs"]]
    wait_for(client, developer.headers, training_id, "completed")
    admin = create_user("admin")
    assert client.get(f"{JOBS}/{training_id}", headers=admin.headers).status_code == 200
    assert client.delete(f"/vault/training/jobs/{training_id}",
                         headers=developer.headers).status_code == 204  # fmt: skip


def test_adapters_are_the_trained_models(client, developer, dataset, create_user):
    training_id = client.post(
        JOBS, json=job_body(dataset, max_steps=3), headers=developer.headers
    ).json()["id"]
    job = wait_for(client, developer.headers, training_id, "completed")
    adapters = client.get("/vault/training/adapters", headers=developer.headers).json()
    mine = next(entry for entry in adapters["adapters"] if entry["id"] == training_id)
    assert mine["name"] == job["adapter_id"] and mine["status"] == "ready"
    assert mine["base_model"] == BASE_MODEL and mine["size_bytes"] > 0
    path = f"/vault/training/adapters/{training_id}"
    other = create_user("developer")
    assert client.get(path, headers=other.headers).status_code == 404

    assert client.post(f"{path}/activate", headers=developer.headers).status_code == 403
    admin = create_user("admin")
    active = client.post(f"{path}/activate", headers=admin.headers)
    assert active.status_code == 200 and active.json()["status"] == "active"
    assert (
        client.get("/api/v1/models/active", headers=admin.headers).json()["model_id"]
        == (job["adapter_id"])
    )
    refused = client.delete(path, headers=developer.headers)
    assert refused.status_code == 409 and refused.json()["code"] == "adapter_active"
    ready = client.post(f"{path}/deactivate", headers=admin.headers)
    assert ready.status_code == 200 and ready.json()["status"] == "ready"
    assert client.delete(path, headers=developer.headers).status_code == 204
    assert client.get(path, headers=developer.headers).status_code == 404
    listed = client.get("/api/v1/models/local", headers=developer.headers).json()
    assert job["adapter_id"] not in [model["id"] for model in listed]
    assert (
        client.get(f"{JOBS}/{training_id}", headers=developer.headers).json()["adapter_id"] is None
    )

    # no GPU on a CPU machine: nothing is allocated
    gpus = client.get("/vault/training/gpu-allocation", headers=developer.headers)
    assert gpus.status_code == 200 and isinstance(gpus.json(), list)


def test_vault_datasets_by_path_under_the_roots(client, developer, dataset_root):
    good = dataset_root / "colours.jsonl"
    good.write_bytes(jsonl(rows()))
    bad = dataset_root / "broken.jsonl"
    bad.write_bytes(b'{"prompt": "a", "completion": "b"}\n{"prompt": 1}\n')
    validate = "/vault/training/validate"
    checked = client.post(validate, json={"path": str(good)}, headers=developer.headers).json()
    assert checked == {"valid": True, "format": "jsonl", "record_count": 8, "findings": []}
    refused = client.post(validate, json={"path": str(bad)}, headers=developer.headers).json()
    assert refused["valid"] is False and "line 2" in refused["findings"][0]["message"]
    outside = client.post(validate, json={"path": "/etc/hostname"}, headers=developer.headers)
    assert outside.json()["valid"] is False

    created = client.post("/vault/training/jobs", json=job_body(str(good), max_steps=2),
                          headers=developer.headers)  # fmt: skip
    assert created.status_code == 201, created.text
    assert created.json()["dataset"] == str(good)
    job = wait_for(client, developer.headers, created.json()["id"], "completed")
    assert job["metrics"]["steps_completed"] == 2
    # the API prefix takes uploaded files only
    api = client.post(JOBS, json=job_body(str(good)), headers=developer.headers)
    assert api.status_code == 422 and api.json()["code"] == "invalid_dataset"
