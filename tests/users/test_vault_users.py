"""Vault's /vault/admin/users (CONTRACTS seed 000): DELETE deactivates and returns the user."""

from fastapi.testclient import TestClient

FIELDS = {
    "id",
    "name",
    "email",
    "role",
    "status",
    "last_active",
    "api_key_count",
    "created_at",
    "auth_source",
}


def test_create_list_update_deactivate(client: TestClient, admin) -> None:
    created = client.post(
        "/vault/admin/users",
        json={"name": "Ada Lovelace", "email": "ada@example.com", "role": "user"},
        headers=admin.headers,
    )
    assert created.status_code == 201, created.text
    user = created.json()
    assert set(user) == FIELDS
    assert (user["name"], user["status"], user["api_key_count"]) == ("Ada Lovelace", "active", 0)
    assert (
        client.post(
            "/vault/admin/users",
            json={"name": "Ada", "email": "ADA@example.com"},
            headers=admin.headers,
        ).status_code
        == 409
    )
    listed = client.get("/vault/admin/users", headers=admin.headers)
    assert listed.status_code == 200
    assert user["id"] in [u["id"] for u in listed.json()]

    updated = client.put(
        f"/vault/admin/users/{user['id']}",
        json={"name": "Ada King", "role": "developer", "status": None, "email": None},
        headers=admin.headers,
    )
    assert updated.status_code == 200, updated.text
    assert (updated.json()["name"], updated.json()["role"]) == ("Ada King", "developer")
    bad_status = client.put(
        f"/vault/admin/users/{user['id']}", json={"status": "asleep"}, headers=admin.headers
    )
    assert bad_status.status_code == 400

    deleted = client.delete(f"/vault/admin/users/{user['id']}", headers=admin.headers)
    assert deleted.status_code == 200
    assert deleted.json()["status"] == "inactive"
    assert deleted.json()["id"] == user["id"]
    again = client.get("/vault/admin/users", headers=admin.headers).json()
    assert next(u for u in again if u["id"] == user["id"])["status"] == "inactive"


def test_api_key_count_and_password_login(client: TestClient, admin) -> None:
    created = client.post(
        "/vault/admin/users",
        json={"name": "Key Holder", "email": "keys@example.com", "password": "Key-holder-pass-1"},
        headers=admin.headers,
    ).json()
    login = client.post(
        "/vault/auth/login", json={"username": "keys@example.com", "password": "Key-holder-pass-1"}
    )
    assert login.status_code == 200
    headers = {"Authorization": f"Bearer {login.json()['token']}"}
    for _ in range(2):
        client.post("/vault/admin/keys", json={"label": "k"}, headers=headers)
    rows = client.get("/vault/admin/users", headers=admin.headers).json()
    assert next(u for u in rows if u["id"] == created["id"])["api_key_count"] == 2


def test_invalid_role_and_permissions(client: TestClient, create_user, admin) -> None:
    bad = client.post(
        "/vault/admin/users",
        json={"name": "X", "email": "x@example.com", "role": "pharaoh"},
        headers=admin.headers,
    )
    assert bad.status_code == 400
    assert client.get("/vault/admin/users").status_code == 401
    user = create_user()
    assert client.get("/vault/admin/users", headers=user.headers).status_code == 403
    assert (
        client.post(
            "/vault/admin/users", json={"name": "Y", "email": "y@example.com"}, headers=user.headers
        ).status_code
        == 403
    )
    assert client.delete(f"/vault/admin/users/{admin.id}", headers=user.headers).status_code == 403
    assert client.get("/vault/admin/users", headers=admin.headers).status_code == 200
