"""Vault's /vault/admin/keys (CONTRACTS seed 000): integer ids, vault_sk_ secrets, scopes."""

import re

from fastapi.testclient import TestClient


def make_key(client: TestClient, headers: dict[str, str], scope: str = "user") -> dict:
    response = client.post(
        "/vault/admin/keys", json={"label": "laptop", "scope": scope}, headers=headers
    )
    assert response.status_code == 201, response.text
    return response.json()


def test_create_list_revoke(client: TestClient, create_user) -> None:
    user = create_user()
    created = make_key(client, user.headers)
    assert re.fullmatch(r"vault_sk_[0-9a-f]{48}", created["key"])
    assert isinstance(created["id"], int)
    assert created["key_prefix"] == created["key"][:12]
    assert (created["label"], created["scope"]) == ("laptop", "user")
    listed = client.get("/vault/admin/keys", headers=user.headers)
    assert listed.status_code == 200
    (item,) = listed.json()
    assert item == {
        "id": created["id"],
        "key_prefix": created["key_prefix"],
        "label": "laptop",
        "scope": "user",
        "is_active": True,
        "created_at": item["created_at"],
        "last_used_at": None,
    }
    key_headers = {"Authorization": f"Bearer {created['key']}"}
    assert client.get("/vault/auth/me", headers=key_headers).status_code == 200
    deleted = client.delete(f"/vault/admin/keys/{created['id']}", headers=user.headers)
    assert deleted.status_code == 200
    assert deleted.json() == {"status": "revoked"}
    assert client.get("/vault/auth/me", headers=key_headers).status_code == 401
    (after,) = client.get("/vault/admin/keys", headers=user.headers).json()
    assert after["is_active"] is False


def test_admin_sees_and_revokes_every_key(client: TestClient, create_user, admin) -> None:
    owner, other = create_user(), create_user()
    created = make_key(client, owner.headers)
    other_view = client.get("/vault/admin/keys", headers=other.headers).json()
    assert created["id"] not in [k["id"] for k in other_view]
    not_yours = client.delete(f"/vault/admin/keys/{created['id']}", headers=other.headers)
    assert not_yours.status_code == 404
    admin_view = client.get("/vault/admin/keys?limit=1000", headers=admin.headers).json()
    assert created["id"] in [k["id"] for k in admin_view]
    revoked = client.delete(f"/vault/admin/keys/{created['id']}", headers=admin.headers)
    assert revoked.status_code == 200
    assert client.get("/vault/auth/me", headers={"X-API-Key": created["key"]}).status_code == 401


def test_user_scope_limits_an_admins_key(client: TestClient, admin) -> None:
    user_scoped = make_key(client, admin.headers, scope="user")
    admin_scoped = make_key(client, admin.headers, scope="admin")
    user_headers = {"X-API-Key": user_scoped["key"]}
    admin_headers = {"X-API-Key": admin_scoped["key"]}
    assert client.get("/vault/admin/users", headers=user_headers).status_code == 403
    assert client.get("/vault/admin/users", headers=admin_headers).status_code == 200
    assert client.get("/vault/auth/me", headers=user_headers).json()["key_scope"] == "user"


def test_only_admins_make_admin_keys(client: TestClient, create_user) -> None:
    user = create_user()
    response = client.post(
        "/vault/admin/keys", json={"label": "x", "scope": "admin"}, headers=user.headers
    )
    assert response.status_code == 403
    bad = client.post(
        "/vault/admin/keys", json={"label": "x", "scope": "root"}, headers=user.headers
    )
    assert bad.status_code == 400


def test_vault_keys_need_credentials_and_permission(client: TestClient, create_user) -> None:
    assert client.get("/vault/admin/keys").status_code == 401
    assert client.post("/vault/admin/keys", json={"label": "x"}).status_code == 401
    assert client.delete("/vault/admin/keys/1").status_code == 401
    viewer = create_user("viewer")
    assert client.get("/vault/admin/keys", headers=viewer.headers).status_code == 403
