"""Usage analytics (seed 002 /llm/usage/*, seed 001 /usage/*) and the price table."""

from datetime import UTC, datetime, timedelta
from itertools import count

import pytest

from tests.gateway.helpers import flush

ENDPOINTS = (
    "overview",
    "by-model",
    "by-user",
    "costs",
    "history",
    "top-users",
    "top-models",
    "forecasts",
)
_ids = count(1)


def record(
    user_id,
    *,
    days_ago=0,
    model="gpt-4o",
    status="ok",
    prompt=100,
    completion=50,
    cost=0.01,
    latency=500,
):
    return {
        "user_id": user_id,
        "key_id": None,
        "provider_id": None,
        "provider": "p",
        "provider_type": "openai",
        "model": model,
        "origin": "test",
        "endpoint": "chat",
        "stream": False,
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "estimated": False,
        "cost_usd": cost,
        "latency_ms": latency,
        "ttft_ms": None,
        "status": status,
        "status_code": 200 if status == "ok" else 502,
        "error": None,
        "created_at": datetime.now(UTC) - timedelta(days=days_ago, seconds=next(_ids) % 50),
    }


def seed(client, app, records) -> None:
    for row in records:
        app.state.gateway.usage.add(row)
    flush(client, app)


@pytest.fixture(scope="module")
def people(client, app):
    """Two users with usage: alice 3 calls today (one failed), bob 1 call on another model."""
    from tests.conftest import TestUser, access_token_for

    async def make(name: str, role: str) -> int:
        from atrium.users import service as users_service

        async with app.state.db.sessions() as session:
            user = await users_service.create_user(
                session,
                email=f"{name}@example.com",
                username=name,
                password="Pw-123456789",
                role=role,
            )
            await session.commit()
            return user.id

    made = {}
    for name, role in (("alice", "user"), ("bob", "user"), ("boss", "admin"), ("ana", "analyst")):
        user_id = client.portal.call(make, name, role)
        token = access_token_for(app, user_id, role)
        made[name] = TestUser(
            user_id,
            f"{name}@example.com",
            name,
            "",
            role,
            token,
            {"Authorization": f"Bearer {token}"},
        )
    seed(
        client,
        app,
        [
            record(made["alice"].id),
            record(made["alice"].id, latency=1500),
            record(made["alice"].id, status="error", prompt=0, completion=0, cost=0.0, latency=100),
            record(made["bob"].id, model="claude-3-5-haiku-20241022", cost=0.5, days_ago=2),
        ],
    )
    return made


def test_every_endpoint_needs_credentials(client, people):
    for name in ENDPOINTS:
        assert client.get(f"/api/v1/llm/usage/{name}").status_code == 401
    assert client.get("/api/v1/usage/stats").status_code == 401
    assert client.get("/api/v1/usage/history").status_code == 401


def test_overview_for_an_admin_counts_everyone(client, people):
    body = client.get("/api/v1/llm/usage/overview?days=7", headers=people["boss"].headers).json()
    assert body["total_calls"] == 4
    assert body["total_tokens"] == 3 * 150
    assert body["input_tokens"] == 300 and body["output_tokens"] == 150
    assert body["total_cost"] == pytest.approx(0.52)
    assert body["error_rate"] == 0.25
    assert body["avg_response_time"] == pytest.approx((500 + 1500 + 100 + 500) / 4 / 1000)
    assert body["period_days"] == 7 and body["most_used_model"] == "gpt-4o"
    assert len(body["daily_breakdown"]) == 7
    today = body["daily_breakdown"][-1]
    assert (
        today["calls"] == 3
        and today["errors"] == 1
        and today["date"] == datetime.now(UTC).date().isoformat()
    )


def test_a_user_sees_only_their_own(client, people):
    alice = people["alice"].headers
    body = client.get("/api/v1/llm/usage/overview", headers=alice).json()
    assert body["total_calls"] == 3 and body["total_cost"] == pytest.approx(0.02)
    users = client.get("/api/v1/llm/usage/by-user", headers=alice).json()
    assert [u["username"] for u in users["users"]] == ["alice"]
    # an analyst's role reaches everyone's usage
    analyst = client.get("/api/v1/llm/usage/overview", headers=people["ana"].headers).json()
    assert analyst["total_calls"] == 4


def test_by_model_and_by_user(client, people):
    boss = people["boss"].headers
    models = client.get("/api/v1/llm/usage/by-model", headers=boss).json()
    assert models["model_count"] == 2 and models["total_calls"] == 4
    gpt = models["models"][0]
    assert gpt["model"] == "gpt-4o" and gpt["calls"] == 3 and gpt["error_count"] == 1
    assert gpt["avg_tokens_per_call"] == 100.0
    filtered = client.get("/api/v1/llm/usage/by-model?model_filter=claude", headers=boss).json()
    assert [m["model"] for m in filtered["models"]] == ["claude-3-5-haiku-20241022"]
    users = client.get("/api/v1/llm/usage/by-user?limit=1", headers=boss).json()
    assert users["user_count"] == 2 and len(users["users"]) == 1
    top = users["users"][0]
    assert top["username"] == "alice" and top["most_used_model"] == "gpt-4o"
    assert top["user_id"] == str(people["alice"].id) and top["last_activity"]
    assert users["avg_calls_per_user"] == 2.0


def test_costs_history_and_tops(client, people):
    boss = people["boss"].headers
    costs = client.get("/api/v1/llm/usage/costs?days=10", headers=boss).json()
    assert costs["total_cost"] == pytest.approx(0.52)
    assert costs["cost_by_user"] == {"bob": 0.5, "alice": 0.02}
    assert costs["projected_monthly_cost"] == pytest.approx(0.52 / 10 * 30)
    assert len(costs["daily_costs"]) == 10 and costs["cost_trends"]["direction"] in (
        "up",
        "down",
        "flat",
    )
    history = client.get("/api/v1/llm/usage/history", headers=boss).json()
    assert len(history["history"]) == 7 and sum(d["calls"] for d in history["history"]) == 4
    by_cost = client.get("/api/v1/llm/usage/top-users?metric=cost", headers=boss).json()
    assert [u["username"] for u in by_cost["top_users"]] == ["bob", "alice"]
    models = client.get("/api/v1/llm/usage/top-models?limit=1", headers=boss).json()
    assert [m["model"] for m in models["top_models"]] == ["gpt-4o"]
    bad = client.get("/api/v1/llm/usage/top-users?metric=vibes", headers=boss)
    assert bad.status_code == 422  # an enum in the OpenAPI
    # a period is at most a year long, and one that starts before the calendar is refused
    long = client.get("/api/v1/llm/usage/overview?start_date=1900-01-01", headers=boss)
    assert long.status_code == 400
    early = client.get("/api/v1/llm/usage/overview?end_date=0001-01-01&days=30", headers=boss)
    assert early.status_code == 400
    assert client.get("/api/v1/llm/usage/overview?days=0", headers=boss).status_code == 422


def test_forecast_needs_data(client, people):
    body = client.get("/api/v1/llm/usage/forecasts", headers=people["alice"].headers).json()
    assert body == {
        "available": False,
        "reason": "insufficient_data",
        "days_needed": 6,
        "history_days": 1,
        "horizon_days": 30,
    }


def test_forecast_with_trend_and_season(client, app, create_user):
    user = create_user("user")
    rows = []
    for days_ago in range(28):
        weekday = (datetime.now(UTC) - timedelta(days=days_ago)).weekday()
        calls = 10 + (28 - days_ago) + (8 if weekday >= 5 else 0)
        rows += [record(user.id, days_ago=days_ago, cost=0.01) for _ in range(calls)]
    seed(client, app, rows)
    body = client.get("/api/v1/llm/usage/forecasts?days=14", headers=user.headers).json()
    assert body["available"] is True and body["seasonal"] is True
    assert body["history_days"] == 28 and len(body["forecast"]) == 14
    first = body["forecast"][0]
    assert first["calls_lower"] <= first["calls"] <= first["calls_upper"]
    # the trend rises by one call a day; weekends carry the season's extra calls
    weekday_points = [
        p for p in body["forecast"] if datetime.fromisoformat(p["date"]).weekday() < 5
    ]
    weekend_points = [
        p for p in body["forecast"] if datetime.fromisoformat(p["date"]).weekday() >= 5
    ]
    assert weekend_points[0]["calls"] > weekday_points[0]["calls"]
    assert weekday_points[-1]["calls"] > weekday_points[0]["calls"]
    assert 38 < first["calls"] < 50


def test_forgetrace_stats_and_history(client, people):
    alice = people["alice"].headers
    stats = client.get("/api/v1/usage/stats", headers=alice)
    assert stats.status_code == 200
    body = stats.json()
    assert body["apiRequests"] == 3 and body["llmTokens"] == 300
    assert body["tier"] == "free" and body["monthlyLimit"] == 1000
    assert set(body) >= {"filesScanned", "storageUsed", "usageHistory"}
    month = datetime.now(UTC).strftime("%Y-%m")
    assert body["usageHistory"][-1] == {"date": month, "count": 3, "filesScanned": 0}
    assert all("-" in point["date"] for point in body["usageHistory"])
    history = client.get("/api/v1/usage/history?days=3", headers=alice).json()
    assert history["period"] == "last_3_days" and len(history["data"]) == 3
    assert history["data"][-1]["apiRequests"] == 3


def test_prices_are_seeded_and_admin_editable(client, people):
    prices = client.get("/api/v1/llm/prices", headers=people["alice"].headers).json()["prices"]
    gpt4o = next(p for p in prices if p["model"] == "gpt-4o" and p["provider_type"] == "openai")
    assert gpt4o["input_usd_per_mtok"] == 2.5 and gpt4o["output_usd_per_mtok"] == 10.0
    change = {
        "prices": [
            {
                "provider_type": "openai",
                "model": "gpt-4o",
                "input_usd_per_mtok": 3,
                "output_usd_per_mtok": 12,
            },
            {"model": "my-local-model", "input": 0.1, "output": 0.2},
        ]
    }
    assert (
        client.put("/api/v1/llm/prices", json=change, headers=people["alice"].headers).status_code
        == 403
    )
    assert client.put("/api/v1/llm/prices", json=change).status_code == 401
    updated = client.put("/api/v1/llm/prices", json=change, headers=people["boss"].headers)
    assert updated.status_code == 200
    rows = {(p["provider_type"], p["model"]): p for p in updated.json()["prices"]}
    assert rows[("openai", "gpt-4o")]["input_usd_per_mtok"] == 3
    assert rows[("", "my-local-model")]["output_usd_per_mtok"] == 0.2
    again = client.get("/api/v1/llm/prices", headers=people["boss"].headers).json()["prices"]
    assert any(p["model"] == "my-local-model" for p in again)


def test_rollups_rebuilt_from_records_match_the_incremental_ones(client, app, people):
    from sqlalchemy import select

    from atrium.usage.tables import UsageDaily
    from atrium.usage.writer import rebuild_rollups

    async def snapshot() -> list[tuple]:
        async with app.state.db.sessions() as session:
            rows = await session.execute(
                select(
                    UsageDaily.day,
                    UsageDaily.user_id,
                    UsageDaily.model,
                    UsageDaily.calls,
                    UsageDaily.errors,
                    UsageDaily.prompt_tokens,
                    UsageDaily.latency_ms_sum,
                ).order_by(UsageDaily.day, UsageDaily.user_id, UsageDaily.model)
            )
            return [tuple(row) for row in rows]

    async def rebuild() -> int:
        async with app.state.db.sessions() as session:
            count = await rebuild_rollups(session)
            await session.commit()
            return count

    before = client.portal.call(snapshot)
    assert client.portal.call(rebuild) == len(before)
    assert client.portal.call(snapshot) == before
