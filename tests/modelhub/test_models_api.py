"""The model registry against a hub-shaped server: search, pull as a job (verified, resumed
after a dropped connection), list, activate, delete, and the refusals."""

import hashlib
import json

import pytest

from tests.jobs.helpers import wait_for
from tests.modelhub.hub_server import FakeHub, HubRepo, safetensors_bytes

BASE = "/api/v1/models"
CONFIG = json.dumps(
    {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "max_position_embeddings": 256}
).encode()
WEIGHTS = safetensors_bytes(300_000)  # about 1.2 MB: several chunks


def tiny(repo_id: str, **extra: object) -> HubRepo:
    return HubRepo(repo_id, {"config.json": CONFIG, "model.safetensors": WEIGHTS}, **extra)


@pytest.fixture(scope="module")
def hub():
    server = FakeHub()
    server.add(tiny("tiny-org/tiny-llm", downloads=50))
    server.add(tiny("tiny-org/tiny-resume"))
    server.add(tiny("tiny-org/tiny-broken"))
    server.add(
        HubRepo(
            "tiny-org/tiny-Q4_K_M-GGUF",
            {"tiny.Q4_K_M.gguf": b"GGUF" + bytes(2048)},
            tags=["gguf"],
            pipeline_tag="text-generation",
            downloads=900,
        )
    )
    yield server
    server.close()


@pytest.fixture(scope="module")
def settings_overrides(hub):
    return {
        "hf_endpoint": hub.url,
        "jobs_poll_seconds": 0.05,
        "jobs_retry_base_seconds": 0.05,
        "job_lease_seconds": 5.0,
    }


def pull(client, app, headers, model_id):
    response = client.post(f"{BASE}/download", json={"model_id": model_id}, headers=headers)
    assert response.status_code == 202, response.text
    assert response.json()["size_bytes"] > 0
    return wait_for(client, app, response.json()["job_id"], "completed", "failed")


def test_search_reads_the_hub(client, as_user, hub):
    assert client.get(f"{BASE}/search", params={"q": "tiny"}).status_code == 401
    response = client.get(f"{BASE}/search", params={"q": "llm"}, headers=as_user("viewer"))
    assert response.status_code == 200, response.text
    (item,) = response.json()
    assert item["id"] == "tiny-org/tiny-llm" and item["name"] == "tiny-llm"
    assert item["downloads"] == 50 and item["likes"] == 1 and item["author"] == "tiny-org"
    assert item["task"] == "text-generation" and item["vllm_ready"] is True
    assert "safetensors" in item["tags"] and item["created_at"].startswith("2026-01-02")
    popular = client.get(f"{BASE}/popular", headers=as_user("developer")).json()
    assert (
        popular[0]["id"] == "tiny-org/tiny-Q4_K_M-GGUF" and popular[0]["quantization"] == "Q4_K_M"
    )


def test_a_download_is_a_verified_job_and_the_model_is_listed(client, app, create_user, hub):
    developer = create_user("developer")
    assert client.post(
        f"{BASE}/download", json={"model_id": "tiny-org/tiny-llm"}, headers=create_user().headers
    ).status_code == 403  # fmt: skip
    job = pull(client, app, developer.headers, "tiny-org/tiny-llm")
    assert job.status == "completed", job.error
    assert job.result["model_id"] == "tiny-org/tiny-llm" and job.progress == 1.0
    models_dir = app.state.settings.data_dir / "models"
    stored = (models_dir / "tiny-org/tiny-llm/model.safetensors").read_bytes()
    assert hashlib.sha256(stored).digest() == hashlib.sha256(WEIGHTS).digest()
    local = client.get(f"{BASE}/local", headers=developer.headers).json()
    (model,) = [m for m in local if m["id"] == "tiny-org/tiny-llm"]
    assert model["size_bytes"] == len(WEIGHTS) + len(CONFIG)
    assert model["dtypes"] == ["F32"] and model["context_window"] == 256
    assert model["task"] == "text-generation" and model["formats"] == ["safetensors"]
    detail = client.get(f"{BASE}/tiny-org/tiny-llm", headers=developer.headers).json()
    assert detail["local"]["id"] == "tiny-org/tiny-llm"

    assert pull(client, app, developer.headers, "tiny-org/tiny-Q4_K_M-GGUF").status == "completed"
    quantizations = client.get(f"{BASE}/quantizations", headers=developer.headers).json()
    assert {q["name"]: q["models"] for q in quantizations} == {
        "F32": ["tiny-org/tiny-llm"],
        "Q4_K_M": ["tiny-org/tiny-Q4_K_M-GGUF"],
    }
    categories = client.get(f"{BASE}/categories", headers=developer.headers).json()
    assert categories == [
        {
            "name": "text-generation",
            "count": 2,
            "models": ["tiny-org/tiny-Q4_K_M-GGUF", "tiny-org/tiny-llm"],
        }
    ]


def test_an_interrupted_download_resumes_from_the_partial_file(client, app, create_user, hub):
    developer = create_user("developer")
    hub.served.pop("model.safetensors", None)
    hub.cut_after["model.safetensors"] = 400_000
    job = pull(client, app, developer.headers, "tiny-org/tiny-resume")
    assert job.status == "completed", job.error
    assert job.attempts == 2
    assert hub.served["model.safetensors"] == len(WEIGHTS)  # 400 000 bytes, then the rest
    stored = app.state.settings.data_dir / "models/tiny-org/tiny-resume/model.safetensors"
    assert stored.read_bytes() == WEIGHTS
    assert not (app.state.settings.data_dir / "models/.incoming/tiny-org--tiny-resume").exists()


def test_a_corrupt_file_fails_the_job_and_installs_nothing(client, app, create_user, hub):
    developer = create_user("developer")
    hub.corrupt.add("model.safetensors")
    try:
        job = pull(client, app, developer.headers, "tiny-org/tiny-broken")
    finally:
        hub.corrupt.discard("model.safetensors")
    assert job.status == "failed" and "checksum" in job.error
    assert (
        client.get(f"{BASE}/tiny-org/tiny-broken", headers=developer.headers).json()["local"]
        is None
    )


def test_activate_and_delete_are_for_administrators(client, app, create_user, admin, hub):
    developer = create_user("developer")
    assert pull(client, app, developer.headers, "tiny-org/tiny-llm").status == "completed"
    body = {"model_id": "tiny-org/tiny-llm"}
    assert client.post(f"{BASE}/activate", json=body, headers=developer.headers).status_code == 403
    response = client.post(f"{BASE}/activate", json=body, headers=admin.headers)
    assert response.status_code == 200, response.text
    assert client.get(f"{BASE}/active", headers=developer.headers).json()["model_id"] == (
        "tiny-org/tiny-llm"
    )
    settings = client.get("/api/v1/admin/settings", headers=admin.headers).json()
    assert settings["default_model"] == "tiny-org/tiny-llm"
    response = client.post(f"{BASE}/vllm/tiny-org/tiny-llm/activate", headers=admin.headers)
    assert response.status_code == 200 and response.json()["local"]["active"] is True
    missing = client.post(f"{BASE}/activate", json={"model_id": "a/b"}, headers=admin.headers)
    assert missing.status_code == 404

    assert (
        client.delete(f"{BASE}/ollama/tiny-org/tiny-llm", headers=developer.headers).status_code
        == 403
    )
    response = client.delete(f"{BASE}/ollama/tiny-org/tiny-llm", headers=admin.headers)
    assert response.status_code == 200, response.text
    assert client.get(f"{BASE}/active", headers=admin.headers).json()["model_id"] is None
    local = client.get(f"{BASE}/local", headers=admin.headers).json()
    assert "tiny-org/tiny-llm" not in [m["id"] for m in local]
    assert client.delete(f"{BASE}/tiny-org/tiny-llm", headers=admin.headers).status_code == 404


def test_bad_ids_unknown_models_and_a_dead_hub(client, create_user, admin, hub):
    developer = create_user("developer")
    unknown = client.post(
        f"{BASE}/download", json={"model_id": "no/such"}, headers=developer.headers
    )
    assert unknown.status_code == 404
    assert client.get(f"{BASE}/no/such", headers=developer.headers).status_code == 404
    for bad in ("../etc", "a/../../b", "a/b/c", "/abs"):
        response = client.post(
            f"{BASE}/download", json={"model_id": bad}, headers=developer.headers
        )
        assert response.status_code == 422, bad
    assert client.get(f"{BASE}/..%2F..%2Fetc", headers=developer.headers).status_code == 422
    assert client.delete(f"{BASE}/vllm/..%2Fsecret", headers=admin.headers).status_code == 422
    hub.broken = True
    try:
        response = client.get(f"{BASE}/search", params={"q": "x"}, headers=developer.headers)
        down = client.post(f"{BASE}/download", json={"model_id": "a/b"}, headers=developer.headers)
    finally:
        hub.broken = False
    assert response.status_code == 503 and "cannot be reached" in response.json()["detail"]
    assert down.status_code == 503


def test_model_settings(client, as_user, admin):
    read = client.get(f"{BASE}/settings", headers=as_user("developer")).json()
    assert read["default_backend"] == "vllm" and read["allow_pickle"] is False
    change = {"default_backend": "ollama"}
    assert (
        client.put(f"{BASE}/settings", json=change, headers=as_user("developer")).status_code == 403
    )
    response = client.put(f"{BASE}/settings", json=change, headers=admin.headers)
    assert response.status_code == 200 and response.json()["default_backend"] == "ollama"
    bad = client.put(f"{BASE}/settings", json={"default_backend": "nope"}, headers=admin.headers)
    assert bad.status_code == 422


def test_batch_download_queues_every_model_or_none(client, app, create_user, hub):
    developer = create_user("developer")

    def own_jobs():
        jobs = client.get("/api/v1/jobs", headers=developer.headers)
        assert jobs.status_code == 200
        return [job for job in jobs.json() if job["owner_id"] == str(developer.id)]

    bad = {"model_ids": ["tiny-org/tiny-resume", "no/such"]}
    refused = client.post(f"{BASE}/batch-download", json=bad, headers=developer.headers)
    assert refused.status_code == 404 and own_jobs() == []
    body = {"model_ids": ["tiny-org/tiny-resume", "tiny-org/tiny-Q4_K_M-GGUF"]}
    response = client.post(f"{BASE}/batch-download", json=body, headers=developer.headers)
    assert response.status_code == 202, response.text
    started = response.json()["downloads"]
    assert [item["model_id"] for item in started] == body["model_ids"]
    for item in started:
        assert wait_for(client, app, item["job_id"], "completed", "failed").status == "completed"
    assert len(own_jobs()) == 2
