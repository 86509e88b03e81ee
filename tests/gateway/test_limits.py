"""Limits per user and per key, with in-process counters."""

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from tests.gateway.helpers import add_provider, usage_rows
from tests.gateway.upstreams import OpenAIUpstream, serve_app

CHAT = {"model": "gpt-4o", "messages": [{"role": "user", "content": "Hi"}]}


@pytest.fixture(scope="module")
def upstream() -> Iterator[tuple[OpenAIUpstream, str]]:
    fake = OpenAIUpstream()
    with serve_app(fake.app) as base:
        yield fake, base


@pytest.fixture(scope="module")
def provider(client: TestClient, upstream, module_admin) -> dict:
    headers = module_admin.headers
    return {"headers": headers, "provider": add_provider(client, headers, upstream[1], name="lim")}


def limit_user(client, provider, user, **limits) -> None:
    response = client.patch(
        f"/api/v1/admin/users/{user.id}", json=limits, headers=provider["headers"]
    )
    assert response.status_code == 200, response.text


def chat(client, headers):
    return client.post("/v1/chat/completions", json=CHAT, headers=headers)


def test_requests_per_minute(client, app, provider, create_user):
    user = create_user("user")
    limit_user(client, provider, user, rpm_limit=2)
    assert [chat(client, user.headers).status_code for _ in range(2)] == [200, 200]
    refused = chat(client, user.headers)
    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "rate_limited"
    assert refused.json()["error"]["type"] == "rate_limit_error"
    assert 1 <= int(refused.headers["retry-after"]) <= 60
    assert "x-should-retry" not in refused.headers
    assert [r.status_code for r in usage_rows(client, app, user_id=user.id)] == [200, 200, 429]


def test_tokens_per_minute(client, provider, create_user):
    user = create_user("user")
    limit_user(client, provider, user, tpm_limit=10)
    assert chat(client, user.headers).status_code == 200  # 14 tokens: over the limit after
    refused = chat(client, user.headers)
    assert refused.status_code == 429 and refused.json()["error"]["code"] == "token_limited"


def test_monthly_budget(client, app, provider, create_user):
    user = create_user("user")
    limit_user(client, provider, user, monthly_budget_usd="0.0001")
    # each call costs (11 x 2.50 + 3 x 10.00) / 1e6 = 0.0000575 USD at gpt-4o's list price
    assert [chat(client, user.headers).status_code for _ in range(2)] == [200, 200]
    refused = chat(client, user.headers)
    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "budget_exceeded"
    assert refused.headers["x-should-retry"] == "false"
    assert int(refused.headers["retry-after"]) > 0

    async def through_service():
        principal = await app.state.auth_cache.principal_for_user(user.id)
        await app.state.gateway.complete(principal, dict(CHAT), origin="workspace")

    from atrium.gateway.errors import LimitExceeded

    with pytest.raises(LimitExceeded) as raised:
        client.portal.call(through_service)
    assert raised.value.code == "budget_exceeded" and raised.value.headers["Retry-After"]
    # the budget is the user's: raising it lets the user through again
    limit_user(client, provider, user, monthly_budget_usd="5")
    assert chat(client, user.headers).status_code == 200


def test_key_limits_apply_to_the_key_only(client, provider, create_user):
    user = create_user("user")
    created = client.post("/api/v1/tokens", json={"name": "limited"}, headers=user.headers)
    assert created.status_code == 201, created.text
    key_id, secret = created.json()["id"], created.json()["token"]
    patched = client.patch(
        f"/api/v1/tokens/{key_id}", json={"rpm_limit": 1}, headers=provider["headers"]
    )
    assert patched.status_code == 200, patched.text
    key_headers = {"Authorization": f"Bearer {secret}"}
    assert chat(client, key_headers).status_code == 200
    refused = chat(client, key_headers)
    assert refused.status_code == 429 and "key" in refused.json()["error"]["message"]
    assert chat(client, user.headers).status_code == 200  # the user's JWT is not limited
