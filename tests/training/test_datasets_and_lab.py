"""Registered datasets (`/api/v1/datasets`) and seed 003's lab experiments."""

from tests.training.helpers import (
    job_body,
    jsonl,
    requires_training,
    rows,
    upload_dataset,
    wait_for,
)

pytestmark = requires_training
JOBS = "/api/v1/training/jobs"


def test_a_dataset_is_registered_with_its_row_count(client, developer, create_user):
    file_id = upload_dataset(client, developer.headers, jsonl(rows()))
    created = client.post("/api/v1/datasets", json={"file_id": int(file_id), "name": "colours"},
                          headers=developer.headers)  # fmt: skip
    assert created.status_code == 201, created.text
    dataset = created.json()
    assert dataset["row_count"] == len(rows()) and dataset["format"] == "prompt_completion"
    assert dataset["file_id"] == file_id and dataset["name"] == "colours"
    listed = client.get("/api/v1/datasets", headers=developer.headers).json()
    assert [entry["id"] for entry in listed] == [dataset["id"]]

    bad = upload_dataset(client, developer.headers, b'{"messages": []}\n{"text": "ok"}\n')
    refused = client.post("/api/v1/datasets", json={"file_id": int(bad)}, headers=developer.headers)
    assert refused.status_code == 422 and refused.json()["lines"][0]["line"] == 1

    other = create_user("developer")
    foreign = client.post("/api/v1/datasets", json={"file_id": int(file_id)}, headers=other.headers)
    assert foreign.status_code == 404
    assert client.get("/api/v1/datasets", headers=other.headers).json() == []
    body = {**job_body("1"), "dataset": None, "dataset_id": int(dataset["id"])}
    assert client.post(JOBS, json=body, headers=other.headers).status_code == 404
    job = client.post(JOBS, json={**body, "config": {**body["config"], "max_steps": 2}},
                      headers=developer.headers)  # fmt: skip
    assert job.status_code == 202, job.text
    assert job.json()["dataset"] == f"dataset:{dataset['id']}"
    wait_for(client, developer.headers, job.json()["id"], "completed")


def test_an_experiment_compares_its_runs(client, developer, dataset, create_user):
    first = client.post(JOBS, json=job_body(dataset, max_steps=3, learning_rate=0.01),
                        headers=developer.headers).json()  # fmt: skip
    second = client.post(JOBS, json=job_body(dataset, max_steps=3, learning_rate=0.001),
                         headers=developer.headers).json()  # fmt: skip
    for run in (first, second):
        wait_for(client, developer.headers, run["id"], "completed")
    created = client.post(
        "/api/v1/lab/experiments",
        json={"name": "learning rates", "training_job_ids": [int(first["id"])]},
        headers=developer.headers,
    )
    assert created.status_code == 201, created.text
    experiment = created.json()
    # a full fine-tune with rows held out for an eval loss, added at create
    body = {**job_body(dataset, max_steps=2, eval_fraction=0.25), "adapter_type": "full",
            "lora_config": None, "experiment_id": int(experiment["id"])}  # fmt: skip
    third = client.post(JOBS, json=body, headers=developer.headers).json()
    third = wait_for(client, developer.headers, third["id"], "completed")
    assert third["metrics"]["eval_loss"] is not None and third["lora_config"] is None
    local = client.get("/api/v1/models/local", headers=developer.headers).json()
    full = next(model for model in local if model["id"] == third["adapter_id"])
    assert "safetensors" in full["formats"] and "full" in full["tags"]
    listed = client.get("/api/v1/lab/experiments", headers=developer.headers).json()
    assert listed[0]["training_job_ids"] == [first["id"], third["id"]]

    compared = client.get(f"/api/v1/lab/experiments/{experiment['id']}/compare",
                          headers=developer.headers)  # fmt: skip
    assert compared.status_code == 200, compared.text
    runs = compared.json()["runs"]
    assert [run["id"] for run in runs] == [first["id"], third["id"]]
    assert "max_steps" in compared.json()["parameters"]
    assert runs[0]["final"]["steps_completed"] == 3 and len(runs[0]["loss_history"]) == 3
    assert runs[1]["adapter_type"] == "full" and len(runs[1]["eval_loss_history"]) == 1

    other = create_user("developer")
    path = f"/api/v1/lab/experiments/{experiment['id']}/compare"
    assert client.get(path, headers=other.headers).status_code == 404
    theirs = {"name": "x", "training_job_ids": [int(second["id"])]}
    assert client.post("/api/v1/lab/experiments", json=theirs,
                       headers=other.headers).status_code == 404  # fmt: skip
