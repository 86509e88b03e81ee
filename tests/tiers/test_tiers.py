"""Tiers as data: admin CRUD, a user's tier, and the limits where they count."""

from collections.abc import Iterator

import pytest

from atrium.tiers import service as tiers_service
from atrium.tiers.errors import PlanQuotaExceeded
from tests.gateway.helpers import add_provider, flush
from tests.gateway.upstreams import OpenAIUpstream, serve_app

TIERS = "/api/v1/admin/tiers"
CHAT = {"model": "gpt-4o", "messages": [{"role": "user", "content": "Hi"}]}


@pytest.fixture(scope="module")
def upstream() -> Iterator[tuple[OpenAIUpstream, str]]:
    fake = OpenAIUpstream()
    with serve_app(fake.app) as base:
        yield fake, base


@pytest.fixture(scope="module")
def provider(client, upstream, module_admin) -> dict:
    return add_provider(client, module_admin.headers, upstream[1], name="fake", type="openai")


def make_tier(client, admin, **fields) -> dict:
    response = client.post(TIERS, json=fields, headers=admin.headers)
    assert response.status_code == 201, response.text
    return response.json()


def assign(client, admin, user_id, tier) -> dict:
    response = client.put(
        f"/api/v1/admin/users/{user_id}/tier", json={"tier": tier}, headers=admin.headers
    )
    assert response.status_code == 200, response.text
    return response.json()


def test_seeded_tiers_and_access(client, admin, as_user):
    assert client.get(TIERS).status_code == 401
    assert client.get(TIERS, headers=as_user("user")).status_code == 403
    listed = client.get(TIERS, headers=as_user("moderator"))
    assert listed.status_code == 200
    tiers = {t["name"]: t for t in listed.json()["tiers"]}
    assert tiers["free"]["files_scanned"] == 1_000 and tiers["free"]["is_default"] is True
    assert tiers["professional"]["files_scanned"] == 50_000
    assert tiers["enterprise"]["files_scanned"] == 1_000_000
    refused = client.post(TIERS, json={"name": "x"}, headers=as_user("moderator"))
    assert refused.status_code == 403


def test_crud(client, admin, create_user):
    tier = make_tier(client, admin, name="Team", files_scanned=5000, llmTokens=100)
    assert tier["name"] == "team" and tier["llm_tokens"] == 100 and tier["requests"] is None
    path = f"{TIERS}/{tier['id']}"
    assert client.post(TIERS, json={"name": "team"}, headers=admin.headers).status_code == 409
    assert (
        client.post(TIERS, json={"name": "x", "requests": -1}, headers=admin.headers).status_code
        == 422
    )
    changed = client.patch(path, json={"requests": 50}, headers=admin.headers).json()
    assert changed["requests"] == 50 and changed["files_scanned"] == 5000
    put = client.put(path, json={"description": "for teams"}, headers=admin.headers).json()
    assert put["description"] == "for teams"
    user = create_user("user")
    assign(client, admin, user.id, "team")
    in_use = client.delete(path, headers=admin.headers)
    assert in_use.status_code == 409 and in_use.json()["code"] == "tier_in_use"
    assign(client, admin, user.id, None)
    assert client.delete(path, headers=admin.headers).json() == {"id": tier["id"], "deleted": True}
    assert client.get(path, headers=admin.headers).status_code == 404
    assert client.get(f"{TIERS}/999999", headers=admin.headers).status_code == 404


def test_one_default_tier(client, admin):
    tiers = {t["name"]: t for t in client.get(TIERS, headers=admin.headers).json()["tiers"]}
    free, pro = tiers["free"], tiers["professional"]
    refused = client.delete(f"{TIERS}/{free['id']}", headers=admin.headers)
    assert refused.status_code == 409
    unset = client.patch(f"{TIERS}/{free['id']}", json={"is_default": False}, headers=admin.headers)
    assert unset.status_code == 400
    client.patch(f"{TIERS}/{pro['id']}", json={"is_default": True}, headers=admin.headers)
    try:
        tiers = {t["name"]: t for t in client.get(TIERS, headers=admin.headers).json()["tiers"]}
        assert tiers["professional"]["is_default"] and not tiers["free"]["is_default"]
    finally:
        client.patch(f"{TIERS}/{free['id']}", json={"is_default": True}, headers=admin.headers)


def test_admin_assigns_a_users_tier_and_usage_stats_show_it(client, admin, create_user):
    user = create_user("user")
    stats = client.get("/api/v1/usage/stats", headers=user.headers).json()
    assert stats["tier"] == "free" and stats["monthlyLimit"] == 1_000
    path = f"/api/v1/admin/users/{user.id}/tier"
    mod = create_user("moderator")
    assert client.put(path, json={"tier": "enterprise"}, headers=mod.headers).status_code == 403
    assert client.put(path, json={"tier": "enterprise"}).status_code == 401
    unknown = client.put(path, json={"tier": "platinum"}, headers=admin.headers)
    assert unknown.status_code == 404
    missing = client.put(
        "/api/v1/admin/users/999999/tier", json={"tier": "free"}, headers=admin.headers
    )
    assert missing.status_code == 404
    body = assign(client, admin, user.id, "enterprise")
    assert body["tier"]["name"] == "enterprise" and body["source"] == "assigned"
    stats = client.get("/api/v1/usage/stats", headers=user.headers).json()
    assert stats["tier"] == "enterprise" and stats["monthlyLimit"] == 1_000_000
    own = client.get(path, headers=user.headers).json()
    assert own["tier"]["name"] == "enterprise"
    other = create_user("user")
    peek = client.get(f"/api/v1/admin/users/{other.id}/tier", headers=user.headers)
    assert peek.status_code == 404  # another user's: not shown
    assert assign(client, admin, user.id, None)["source"] == "default"


def test_storage_used_is_the_users_real_bytes(client, create_user):
    user = create_user("user")
    assert client.get("/api/v1/usage/stats", headers=user.headers).json()["storageUsed"] == 0
    body = b"x" * 1234
    uploaded = client.post(
        "/api/v1/upload", files={"file": ("a.txt", body, "text/plain")}, headers=user.headers
    )
    assert uploaded.status_code == 201
    assert client.get("/api/v1/usage/stats", headers=user.headers).json()["storageUsed"] == 1234


def test_storage_limit_of_the_tier(client, admin, create_user):
    make_tier(client, admin, name="tiny-storage", storage_bytes=100)
    user = create_user("user")
    assign(client, admin, user.id, "tiny-storage")
    ok = client.post(
        "/api/v1/upload", files={"file": ("a.txt", b"a" * 60, "text/plain")}, headers=user.headers
    )
    assert ok.status_code == 201
    over = client.post(
        "/api/v1/upload", files={"file": ("b.txt", b"b" * 60, "text/plain")}, headers=user.headers
    )
    assert over.status_code == 403 and over.json()["code"] == "quota_exceeded"
    assert "tiny-storage tier" in over.json()["detail"]


def test_monthly_requests_of_the_tier(client, app, admin, provider, create_user, api_key):
    make_tier(client, admin, name="two-requests", requests=2)
    user = create_user("user")
    assign(client, admin, user.id, "two-requests")
    for _ in range(2):
        assert (
            client.post("/v1/chat/completions", json=CHAT, headers=user.headers).status_code == 200
        )
    refused = client.post("/v1/chat/completions", json=CHAT, headers=user.headers)
    assert refused.status_code == 429 and refused.headers["x-should-retry"] == "false"
    error = refused.json()["error"]
    assert error["code"] == "plan_quota_exceeded"
    assert "two-requests tier's monthly limit of 2 requests" in error["message"]
    assert int(refused.headers["Retry-After"]) > 0
    # the workspace's chat answers in Atrium's shape, naming the limit and its reset
    conversation = client.post("/api/v1/conversations", json={}, headers=user.headers).json()
    message = client.post(
        f"/api/v1/conversations/{conversation['id']}/messages",
        json={"content": "Hi"},
        headers=user.headers,
    )
    assert message.status_code == 429
    body = message.json()
    assert body["code"] == "plan_quota_exceeded" and body["limit"] == "requests"
    assert body["resets_at"].endswith("-01T00:00:00Z")
    # a higher tier lifts it at once
    assign(client, admin, user.id, "professional")
    assert client.post("/v1/chat/completions", json=CHAT, headers=user.headers).status_code == 200


def test_monthly_tokens_count_from_stored_usage(client, app, admin, provider, create_user):
    user = create_user("user")
    assert client.post("/v1/chat/completions", json=CHAT, headers=user.headers).status_code == 200
    flush(client, app)
    make_tier(client, admin, name="few-tokens", llm_tokens=10)
    assign(client, admin, user.id, "few-tokens")  # the limits reload; this month's usage counts
    refused = client.post("/v1/chat/completions", json=CHAT, headers=user.headers)
    assert refused.status_code == 429
    assert "monthly limit of 10 LLM tokens" in refused.json()["error"]["message"]


def test_administrators_are_held_to_no_tier(client, admin, provider):
    make_tier(client, admin, name="zero", requests=0, storage_bytes=0)
    assign(client, admin, admin.id, "zero")
    assert client.post("/v1/chat/completions", json=CHAT, headers=admin.headers).status_code == 200
    uploaded = client.post(
        "/api/v1/upload", files={"file": ("a.txt", b"abc", "text/plain")}, headers=admin.headers
    )
    assert uploaded.status_code == 201


def test_quota_checks_and_the_subscription_seam(client, app, create_user):
    user = create_user("user")

    async def scenario() -> tuple[str, str, str]:
        async with app.state.db.sessions() as session:
            await tiers_service.check_quota(session, user.id, "files_scanned", 10, used=990)
            try:
                await tiers_service.check_quota(session, user.id, "files_scanned", 11, used=990)
            except PlanQuotaExceeded as exc:
                refused = exc.extra["limit"]
            before = (await tiers_service.resolve_tier(session, user.id)).source

            async def subscription(_session, user_id):
                return "professional" if user_id == user.id else None

            tiers_service.register_tier_resolver(subscription)
            try:
                found = await tiers_service.resolve_tier(session, user.id)
            finally:
                tiers_service.tier_resolvers.remove(subscription)
            return refused, before, f"{found.tier.name}/{found.source}"

    assert client.portal.call(scenario) == (
        "files_scanned",
        "default",
        "professional/subscription",
    )
