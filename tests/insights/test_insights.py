"""Insights from the audit log's roll-ups and the LLM usage roll-ups (exact figures)."""

import time
from types import SimpleNamespace

import pytest

from atrium.usage.writer import write_batch

LATENCIES = [50, 150, 700, 1500, 3000, 8000, 20, 30, 40, 60]
TWO_DAYS = 2 * 86400


@pytest.fixture(scope="module")
def settings_overrides():
    return {"audit_flush_seconds": 3600}  # only explicit flushes write


def queue_requests(app, when: float) -> None:
    route = SimpleNamespace(path="/api/v1/things/{thing_id}")
    for index, latency in enumerate(LATENCIES):
        app.state.audit_log.queue.append(
            (
                when,
                1 + index % 2,
                None,
                None,
                "GET",
                route.path,
                f"/api/v1/things/{index}",
                b"",
                500 if index in (2, 3) else 200,
                latency,
                "10.0.0.1",
                b"pytest",
                f"req-{index}",
            )
        )


def usage_records(user_id: int, when) -> list[dict]:
    base = {"user_id": user_id, "provider": "p", "status": "ok", "created_at": when}
    return [
        {**base, "model": "m1", "prompt_tokens": 10, "completion_tokens": 5},
        {**base, "model": "m1", "prompt_tokens": 10, "completion_tokens": 5},
        {**base, "model": "m1", "prompt_tokens": 10, "completion_tokens": 5},
        {**base, "model": "m2", "prompt_tokens": 100, "completion_tokens": 0},
    ]


def test_figures_are_computed_from_the_rollups(client, app, run, create_user):
    analyst = create_user("analyst")
    queue_requests(app, time.time() - TWO_DAYS)
    run(app.state.audit_log.flush)

    async def usage() -> None:
        from datetime import UTC, datetime, timedelta

        async with app.state.db.sessions() as session:
            when = datetime.now(UTC) - timedelta(days=2)
            await write_batch(session, usage_records(analyst.id, when))
            await session.commit()

    run(usage)
    body = client.get("/api/v1/insights", params={"range": "7d"}, headers=analyst.headers).json()
    assert body["total_requests"] == 10 and body["active_users"] == 2
    assert [b["count"] for b in body["response_time_distribution"]] == [5, 1, 1, 1, 1, 1]
    assert body["latency_p50_ms"] == 100.0 and body["latency_p95_ms"] == 7500.0
    assert body["error_rate"] == 0.2
    assert body["avg_response_time"] == sum(LATENCIES) / 10
    assert body["total_tokens"] == 145
    assert body["model_usage"] == [
        {"model": "m1", "requests": 3, "percentage": 75.0},
        {"model": "m2", "requests": 1, "percentage": 25.0},
    ]
    top = body["top_routes"][0]
    assert top == {
        "method": "GET",
        "route": "/api/v1/things/{thing_id}",
        "requests": 10,
        "error_rate": 0.2,
        "avg_latency_ms": sum(LATENCIES) / 10,
    }
    (day,) = [point for point in body["usage_history"] if point["requests"]]
    assert day["requests"] == 10 and day["tokens"] == 145

    vault = client.get("/vault/insights", params={"range": "30d"}, headers=analyst.headers).json()
    assert set(vault) == {
        "usage_history",
        "response_time_distribution",
        "model_usage",
        "total_requests",
        "total_tokens",
        "avg_response_time",
        "active_users",
    }
    assert [b["range"] for b in vault["response_time_distribution"]] == [
        "<100ms",
        "100-500ms",
        "500ms-1s",
        "1-2s",
        "2-5s",
        ">5s",
    ]


def test_a_shorter_range_leaves_older_requests_out(client, create_user):
    admin = create_user("admin")
    body = client.get("/vault/insights", params={"range": "24h"}, headers=admin.headers).json()
    assert body["total_requests"] == 0
    assert [b["count"] for b in body["response_time_distribution"]] == [0] * 6


def test_access(client, create_user):
    assert client.get("/vault/insights").status_code == 401
    user = create_user()
    assert client.get("/vault/insights", headers=user.headers).status_code == 403
    assert client.get("/api/v1/insights", headers=user.headers).status_code == 403
    admin = create_user("admin")
    bad = client.get("/api/v1/insights", params={"range": "1y"}, headers=admin.headers)
    assert bad.status_code == 422
