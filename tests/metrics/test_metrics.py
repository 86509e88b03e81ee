"""`GET /metrics`: Prometheus text for administrators or the scrape token."""

import pytest
from prometheus_client.parser import text_string_to_metric_families

from atrium.usage.writer import write_batch

TOKEN = "scrape-token-for-tests"


@pytest.fixture(scope="module")
def settings_overrides():
    return {"metrics_token": TOKEN}


def samples(text: str) -> dict[str, list]:
    found: dict[str, list] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found.setdefault(sample.name, []).append(sample)
    return found


def test_requests_llm_pool_and_queue_are_exported(client, app, run, create_user):
    user = create_user()
    for _ in range(3):
        client.get("/api/v1/projects", headers=user.headers)
    run(app.state.audit_log.flush)

    async def usage() -> None:
        from datetime import UTC, datetime

        async with app.state.db.sessions() as session:
            record = {
                "user_id": user.id,
                "provider": "p1",
                "model": "m1",
                "status": "ok",
                "prompt_tokens": 7,
                "completion_tokens": 3,
                "cost_usd": 0.5,
                "created_at": datetime.now(UTC),
            }
            await write_batch(session, [record, record])
            await session.commit()

    run(usage)
    response = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    found = samples(response.text)
    requests = [
        s
        for s in found["atrium_http_requests_total"]
        if s.labels == {"method": "GET", "route": "/api/v1/projects", "status": "200"}
    ]
    assert requests and requests[0].value >= 3
    counts = [
        s
        for s in found["atrium_http_request_duration_seconds_count"]
        if s.labels == {"method": "GET", "route": "/api/v1/projects"}
    ]
    assert counts[0].value >= 3
    calls = [s for s in found["atrium_llm_calls_total"] if s.labels["model"] == "m1"]
    assert calls[0].value == 2
    tokens = {
        s.labels["direction"]: s.value
        for s in found["atrium_llm_tokens_total"]
        if s.labels["model"] == "m1"
    }
    assert tokens == {"prompt": 14, "completion": 6}
    assert found["atrium_llm_cost_usd_total"][0].value == 1.0
    assert "atrium_audit_log_queue_depth" in found
    assert {s.labels["state"] for s in found["atrium_db_pool_connections"]} >= {"size"}
    assert "process_cpu_seconds_total" in found or "python_gc_objects_collected_total" in found


def test_access(client, create_user):
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert client.get("/metrics", headers=create_user("analyst").headers).status_code == 403
    assert client.get("/metrics", headers=create_user("admin").headers).status_code == 200
