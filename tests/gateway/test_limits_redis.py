"""The same limits with counters in a real Redis, shared by two app instances."""

import asyncio
import time

import httpx
import pytest
from fastapi.testclient import TestClient

from atrium.app import create_app
from tests import services
from tests.gateway.test_limits import (  # noqa: F401 - the same checks, run against Redis
    CHAT,
    chat,
    limit_user,
    provider,
    test_key_limits_apply_to_the_key_only,
    test_monthly_budget,
    test_requests_per_minute,
    test_tokens_per_minute,
    upstream,
)


@pytest.fixture(scope="module")
def settings_overrides() -> dict[str, object]:
    url = services.redis_server()
    if url is None:
        services.unavailable("Redis")
    return {"redis_url": url}


def test_two_processes_share_the_counters(client, app, provider, create_user):  # noqa: F811
    assert app.state.gateway.limiter.__class__.__name__ == "RedisLimiter"
    user = create_user("user")
    limit_user(client, provider, user, rpm_limit=2)
    with TestClient(create_app(app.state.settings), raise_server_exceptions=False) as other:
        assert chat(client, user.headers).status_code == 200
        assert chat(other, user.headers).status_code == 200
        refused = chat(other, user.headers)
        assert refused.status_code == 429 and refused.json()["error"]["code"] == "rate_limited"
        # a provider change in one process reaches the other through the shared version
        admin = provider["headers"]
        pid = provider["provider"]["id"]
        assert other.post(f"/api/v1/llm/providers/{pid}/toggle", headers=admin).status_code == 200
        try:
            fresh = create_user("user")
            assert chat(client, fresh.headers).status_code == 404
        finally:
            other.post(f"/api/v1/llm/providers/{pid}/toggle", headers=admin)


def test_a_concurrent_burst_never_passes_the_limit(client, app, provider, create_user):  # noqa: F811
    """Thirty requests at once against a limit of five: each check and its increment are one
    step in Redis, so no request can pass a check that another has already used up."""
    user = create_user("user")
    limit_user(client, provider, user, rpm_limit=5)

    async def burst() -> list[int]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://atrium") as burster:
            replies = await asyncio.gather(
                *(
                    burster.post("/v1/chat/completions", json=CHAT, headers=user.headers)
                    for _ in range(30)
                )
            )
        return [reply.status_code for reply in replies]

    first_minute = int(time.time() // 60)
    statuses = client.portal.call(burst)
    minutes = int(time.time() // 60) - first_minute + 1  # a burst may straddle two windows
    assert statuses.count(200) + statuses.count(429) == 30
    assert 5 <= statuses.count(200) <= 5 * minutes
