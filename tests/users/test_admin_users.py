"""Seed 004's /api/v1/admin/users: list and search, role and state changes, deletion."""

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from atrium.identity.tables import RefreshToken
from atrium.keys.tables import ApiKey
from atrium.users.tables import User

PASSWORD = "admin-Test-pass-1"


def test_list_is_bare_and_searchable(client: TestClient, create_user, admin) -> None:
    target = create_user(full_name="Searchable Person")
    response = client.get("/api/v1/admin/users", headers=admin.headers)
    assert response.status_code == 200
    assert isinstance(response.json(), list)
    row = next(u for u in response.json() if u["id"] == str(target.id))
    assert set(row) >= {"id", "email", "username", "role", "createdAt", "isActive"}
    found = client.get("/api/v1/admin/users?search=searchable", headers=admin.headers).json()
    assert [u["id"] for u in found] == [str(target.id)]
    by_email = client.get(f"/api/v1/admin/users?search={target.email}", headers=admin.headers)
    assert [u["id"] for u in by_email.json()] == [str(target.id)]


def test_list_paginates(client: TestClient, create_user, admin) -> None:
    for _ in range(3):
        create_user()
    first = client.get("/api/v1/admin/users?limit=2", headers=admin.headers)
    assert len(first.json()) == 2
    cursor = first.headers["X-Next-Cursor"]
    second = client.get(f"/api/v1/admin/users?limit=2&cursor={cursor}", headers=admin.headers)
    assert int(second.json()[0]["id"]) > int(cursor)
    offset = client.get("/api/v1/admin/users?limit=1&offset=1", headers=admin.headers).json()
    assert offset[0]["id"] == first.json()[1]["id"]


def test_admin_routes_refuse_others(client: TestClient, create_user) -> None:
    assert client.get("/api/v1/admin/users").status_code == 401
    assert client.patch("/api/v1/admin/users/1", json={"role": "admin"}).status_code == 401
    assert client.delete("/api/v1/admin/users/1").status_code == 401
    user = create_user()
    assert client.get("/api/v1/admin/users", headers=user.headers).status_code == 403
    patch = client.patch(
        f"/api/v1/admin/users/{user.id}", json={"role": "admin"}, headers=user.headers
    )
    assert patch.status_code == 403
    assert client.delete(f"/api/v1/admin/users/{user.id}", headers=user.headers).status_code == 403
    moderator = create_user("moderator")
    assert client.get("/api/v1/admin/users", headers=moderator.headers).status_code == 200
    promote = client.patch(
        f"/api/v1/admin/users/{user.id}", json={"role": "admin"}, headers=moderator.headers
    )
    assert promote.status_code == 403


def test_role_change_takes_effect_on_next_request(client: TestClient, create_user, admin) -> None:
    user = create_user()
    assert client.get("/api/v1/admin/users", headers=user.headers).status_code == 403
    response = client.patch(
        f"/api/v1/admin/users/{user.id}", json={"role": "admin"}, headers=admin.headers
    )
    assert response.status_code == 200
    assert response.json()["role"] == "admin"
    assert client.get("/api/v1/admin/users", headers=user.headers).status_code == 200
    for role in ("moderator", "developer", "analyst", "viewer", "user"):
        changed = client.patch(
            f"/api/v1/admin/users/{user.id}", json={"role": role}, headers=admin.headers
        )
        assert changed.status_code == 200 and changed.json()["role"] == role
    assert client.get("/api/v1/admin/users", headers=user.headers).status_code == 403


def test_invalid_role_and_unknown_user(client: TestClient, create_user, admin) -> None:
    user = create_user()
    bad = client.patch(
        f"/api/v1/admin/users/{user.id}", json={"role": "emperor"}, headers=admin.headers
    )
    assert bad.status_code == 400
    assert bad.json()["detail"] == "Invalid role"
    missing = client.patch(
        "/api/v1/admin/users/999999", json={"role": "user"}, headers=admin.headers
    )
    assert missing.status_code == 404
    assert client.delete("/api/v1/admin/users/999999", headers=admin.headers).status_code == 404


def test_limits_are_settable_and_persist(client: TestClient, create_user, admin) -> None:
    user = create_user()
    response = client.patch(
        f"/api/v1/admin/users/{user.id}",
        json={"rpmLimit": 60, "tpm_limit": 10000, "monthlyBudgetUsd": 12.5},
        headers=admin.headers,
    )
    assert response.status_code == 200, response.text
    row = next(
        u
        for u in client.get(
            f"/api/v1/admin/users?search={user.email}", headers=admin.headers
        ).json()
    )
    assert (row["rpmLimit"], row["tpmLimit"], row["monthlyBudgetUsd"]) == (60, 10000, 12.5)


def test_delete_removes_user_and_everything_owned(
    client: TestClient, create_user, admin, api_key, app: FastAPI, run
) -> None:
    user = create_user(password=PASSWORD)
    key = api_key(user)
    login = client.post("/api/v1/auth/login", json={"email": user.email, "password": PASSWORD})
    assert login.status_code == 200
    called: list[int] = []

    async def hook(session, user_id: int) -> None:
        called.append(user_id)

    app.state.user_deletion_hooks.append(hook)
    try:
        response = client.delete(f"/api/v1/admin/users/{user.id}", headers=admin.headers)
    finally:
        app.state.user_deletion_hooks.remove(hook)
    assert response.status_code == 200
    assert response.json() == {"message": "User deleted successfully"}
    assert called == [user.id]
    assert client.get("/api/v1/auth/me", headers=user.headers).status_code == 401
    assert client.get("/api/v1/auth/me", headers={"X-API-Key": key}).status_code == 401
    refresh = client.post(
        "/api/v1/auth/refresh", json={"refreshToken": login.json()["refresh_token"]}
    )
    assert refresh.status_code == 401

    async def leftovers() -> tuple[int, int, int]:
        async with app.state.db.sessions() as session:
            users = await session.scalar(select(func.count()).where(User.id == user.id))
            keys = await session.scalar(select(func.count()).where(ApiKey.user_id == user.id))
            tokens = await session.scalar(
                select(func.count()).where(RefreshToken.user_id == user.id)
            )
            return users, keys, tokens

    assert run(leftovers) == (0, 0, 0)


def test_cannot_delete_self(client: TestClient, admin) -> None:
    response = client.delete(f"/api/v1/admin/users/{admin.id}", headers=admin.headers)
    assert response.status_code == 400
    assert response.json()["detail"] == "Cannot delete your own account"
