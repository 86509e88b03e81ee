"""The tier's monthly limits with counters in a real Redis, shared by two app instances."""

import pytest
from fastapi.testclient import TestClient

from atrium.app import create_app
from tests import services
from tests.tiers.test_tiers import (  # noqa: F401 - the same checks, run against Redis
    CHAT,
    assign,
    make_tier,
    provider,
    test_monthly_requests_of_the_tier,
    test_monthly_tokens_count_from_stored_usage,
    upstream,
)


@pytest.fixture(scope="module")
def settings_overrides() -> dict[str, object]:
    url = services.redis_server()
    if url is None:
        services.unavailable("Redis")
    return {"redis_url": url}


def test_two_processes_share_the_monthly_count(client, app, admin, provider, create_user):  # noqa: F811
    assert app.state.gateway.limiter.__class__.__name__ == "RedisLimiter"
    make_tier(client, admin, name="shared-two", requests=2)
    user = create_user("user")
    assign(client, admin, user.id, "shared-two")
    with TestClient(create_app(app.state.settings), raise_server_exceptions=False) as other:
        assert (
            client.post("/v1/chat/completions", json=CHAT, headers=user.headers).status_code == 200
        )
        assert (
            other.post("/v1/chat/completions", json=CHAT, headers=user.headers).status_code == 200
        )
        refused = other.post("/v1/chat/completions", json=CHAT, headers=user.headers)
        assert refused.status_code == 429
        assert refused.json()["error"]["code"] == "plan_quota_exceeded"
