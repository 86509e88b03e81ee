"""ForgeTrace's /api/v1/tokens: secrets shown once, masked lists, scopes, expiry, revocation."""

from datetime import timedelta

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import update

from atrium.db import utcnow
from atrium.keys.tables import ApiKey


def make_token(client: TestClient, headers: dict[str, str], **body) -> dict:
    response = client.post("/api/v1/tokens", json={"name": "ci", **body}, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()


def test_create_shows_secret_once_then_masked(client: TestClient, create_user) -> None:
    user = create_user()
    created = make_token(client, user.headers, name="Test Token")
    assert created["token"].startswith("ftk_")
    assert len(created["token"]) > 40
    assert isinstance(created["id"], str)
    assert created["name"] == "Test Token"
    assert created["createdAt"].endswith("Z")
    assert created["lastUsed"] is None

    listed = client.get("/api/v1/tokens", headers=user.headers)
    assert listed.status_code == 200
    (item,) = [t for t in listed.json() if t["id"] == created["id"]]
    assert item["token"] != created["token"]
    assert item["token"].startswith("ftk_") and "*" in item["token"]
    assert created["token"][12:] not in item["token"]

    one = client.get(f"/api/v1/tokens/{created['id']}", headers=user.headers)
    assert one.status_code == 200
    assert one.json()["token"] == item["token"]


def test_key_works_on_every_endpoint_in_both_headers(client: TestClient, create_user) -> None:
    user = create_user()
    secret = make_token(client, user.headers)["token"]
    for headers in ({"Authorization": f"Bearer {secret}"}, {"X-API-Key": secret}):
        assert client.get("/api/v1/auth/me", headers=headers).json()["id"] == str(user.id)
        assert client.get("/api/v1/tokens", headers=headers).status_code == 200


def test_revoked_key_stops_working(client: TestClient, create_user) -> None:
    user = create_user()
    created = make_token(client, user.headers)
    headers = {"X-API-Key": created["token"]}
    assert client.get("/api/v1/auth/me", headers=headers).status_code == 200
    revoked = client.delete(f"/api/v1/tokens/{created['id']}", headers=user.headers)
    assert revoked.status_code == 200
    assert revoked.json() == {"message": "Token revoked"}
    assert client.get("/api/v1/auth/me", headers=headers).status_code == 401
    assert client.get(f"/api/v1/tokens/{created['id']}", headers=user.headers).status_code == 404
    listed = client.get("/api/v1/tokens", headers=user.headers).json()
    assert created["id"] not in [t["id"] for t in listed]


def test_expired_key_is_refused(client: TestClient, create_user, app: FastAPI, run) -> None:
    user = create_user()
    created = make_token(client, user.headers, expiresInDays=1)
    headers = {"X-API-Key": created["token"]}
    assert created["expiresAt"] is not None
    assert client.get("/api/v1/auth/me", headers=headers).status_code == 200

    async def expire() -> None:
        async with app.state.db.sessions() as session:
            await session.execute(
                update(ApiKey)
                .where(ApiKey.id == int(created["id"]))
                .values(expires_at=utcnow() - timedelta(seconds=1))
            )
            await session.commit()
        app.state.auth_cache.clear()

    run(expire)
    refused = client.get("/api/v1/auth/me", headers=headers)
    assert refused.status_code == 401
    past = client.post(
        "/api/v1/tokens",
        json={"name": "old", "expires_at": "2000-01-01T00:00:00Z"},
        headers=user.headers,
    )
    assert past.status_code == 400
    naive = client.post(
        "/api/v1/tokens",
        json={"name": "naive", "expiresAt": "2999-01-01T00:00:00"},
        headers=user.headers,
    )
    assert naive.status_code == 201
    assert naive.json()["expiresAt"] == "2999-01-01T00:00:00Z"


def test_scope_limited_key_refused_outside_scope(client: TestClient, create_user) -> None:
    user = create_user()
    # ForgeTrace's `action:resource` order is accepted and normalised
    created = make_token(client, user.headers, scopes=["read:api_keys"])
    assert created["scopes"] == ["api_keys:read"]
    headers = {"X-API-Key": created["token"]}
    assert client.get("/api/v1/tokens", headers=headers).status_code == 200
    refused = client.post("/api/v1/tokens", json={"name": "x"}, headers=headers)
    assert refused.status_code == 403
    assert client.get("/api/v1/admin/users", headers=headers).status_code == 403


def test_scopes_must_be_within_owner_permissions(client: TestClient, create_user) -> None:
    user = create_user()
    beyond = client.post(
        "/api/v1/tokens", json={"name": "x", "scopes": ["users:delete"]}, headers=user.headers
    )
    assert beyond.status_code == 400
    assert beyond.json()["code"] == "invalid_scope"
    unknown = client.post(
        "/api/v1/tokens", json={"name": "x", "scopes": ["nothing:read"]}, headers=user.headers
    )
    assert unknown.status_code == 400


def test_other_users_keys_are_404(client: TestClient, create_user) -> None:
    owner, other = create_user(), create_user()
    created = make_token(client, owner.headers)
    token_id = created["id"]
    assert client.get(f"/api/v1/tokens/{token_id}", headers=other.headers).status_code == 404
    assert client.delete(f"/api/v1/tokens/{token_id}", headers=other.headers).status_code == 404
    refresh = client.post(f"/api/v1/tokens/{token_id}/refresh", headers=other.headers)
    assert refresh.status_code == 404
    patch = client.patch(f"/api/v1/tokens/{token_id}", json={"name": "x"}, headers=other.headers)
    assert patch.status_code == 404
    assert token_id not in [
        t["id"] for t in client.get("/api/v1/tokens", headers=other.headers).json()
    ]
    assert client.get("/api/v1/auth/me", headers={"X-API-Key": created["token"]}).status_code == 200


def test_refresh_marks_last_use(client: TestClient, create_user) -> None:
    user = create_user()
    created = make_token(client, user.headers)
    response = client.post(f"/api/v1/tokens/{created['id']}/refresh", headers=user.headers)
    assert response.status_code == 200
    assert response.json() == {"message": "Token refreshed"}
    one = client.get(f"/api/v1/tokens/{created['id']}", headers=user.headers).json()
    assert one["lastUsed"] is not None


def test_last_used_recorded_off_request_path(
    client: TestClient, create_user, app: FastAPI, run
) -> None:
    user = create_user()
    created = make_token(client, user.headers)
    assert client.get("/api/v1/auth/me", headers={"X-API-Key": created["token"]}).status_code == 200
    run(app.state.activity.flush)
    one = client.get(f"/api/v1/tokens/{created['id']}", headers=user.headers).json()
    assert one["lastUsed"] is not None


def test_limits_only_by_admin(client: TestClient, create_user, admin) -> None:
    user = create_user()
    created = make_token(client, user.headers)
    path = f"/api/v1/tokens/{created['id']}"
    assert client.patch(path, json={"rpmLimit": 5}, headers=user.headers).status_code == 403
    renamed = client.patch(path, json={"name": "renamed"}, headers=user.headers)
    assert renamed.status_code == 200 and renamed.json()["name"] == "renamed"
    limited = client.patch(
        path,
        json={"rpm_limit": 5, "tpmLimit": 1000, "monthlyBudgetUsd": 2.5},
        headers=admin.headers,
    )
    assert limited.status_code == 200, limited.text
    stored = client.get(path, headers=user.headers).json()
    assert (stored["rpmLimit"], stored["tpmLimit"], stored["monthlyBudgetUsd"]) == (5, 1000, 2.5)


def test_tokens_need_credentials_and_permission(client: TestClient, create_user) -> None:
    assert client.get("/api/v1/tokens").status_code == 401
    assert client.post("/api/v1/tokens", json={"name": "x"}).status_code == 401
    viewer = create_user("viewer")
    assert client.get("/api/v1/tokens", headers=viewer.headers).status_code == 403
    assert (
        client.post("/api/v1/tokens", json={"name": "x"}, headers=viewer.headers).status_code == 403
    )


def test_list_paginates_with_cursor(client: TestClient, create_user) -> None:
    user = create_user()
    ids = [make_token(client, user.headers, name=f"k{n}")["id"] for n in range(3)]
    page = client.get("/api/v1/tokens?limit=2", headers=user.headers)
    assert [t["id"] for t in page.json()] == ids[:2]
    cursor = page.headers["X-Next-Cursor"]
    rest = client.get(f"/api/v1/tokens?limit=2&cursor={cursor}", headers=user.headers)
    assert [t["id"] for t in rest.json()] == ids[2:]
    assert "X-Next-Cursor" not in rest.headers
