"""The last active administrator can be neither deleted, demoted nor deactivated (409)."""

from fastapi.testclient import TestClient


def test_last_admin_guard(client: TestClient, create_user) -> None:
    only_admin = create_user("admin")
    path = f"/api/v1/admin/users/{only_admin.id}"
    demote = client.patch(path, json={"role": "user"}, headers=only_admin.headers)
    assert demote.status_code == 409
    assert demote.json()["code"] == "last_admin"
    vault_demote = client.put(
        f"/vault/admin/users/{only_admin.id}", json={"role": "viewer"}, headers=only_admin.headers
    )
    assert vault_demote.status_code == 409

    # a custom role allowed to delete users still cannot remove the last admin
    role = client.post(
        "/api/v1/permissions/roles",
        json={
            "name": "User Janitor",
            "description": "Deletes and deactivates accounts",
            "permissions": {"users": ["read", "write", "delete"]},
        },
        headers=only_admin.headers,
    )
    assert role.status_code == 201, role.text
    janitor = create_user("user_janitor")
    assert client.delete(path, headers=janitor.headers).status_code == 409
    deactivate = client.patch(path, json={"isActive": False}, headers=janitor.headers)
    assert deactivate.status_code == 409
    assert (
        client.delete(f"/vault/admin/users/{only_admin.id}", headers=janitor.headers).status_code
        == 409
    )
    assert client.get("/api/v1/auth/me", headers=only_admin.headers).status_code == 200

    # nor change any administrator's account (no way to take one over)
    rename = client.patch(path, json={"email": "taken@example.com"}, headers=janitor.headers)
    assert rename.status_code == 403
    second = create_user("admin")
    assert (
        client.delete(f"/api/v1/admin/users/{second.id}", headers=janitor.headers).status_code
        == 403
    )
    plain = create_user()
    assert (
        client.delete(f"/api/v1/admin/users/{plain.id}", headers=janitor.headers).status_code == 200
    )

    # with a second admin, the first may step down
    stepped_down = client.patch(path, json={"role": "developer"}, headers=only_admin.headers)
    assert stepped_down.status_code == 200
    assert stepped_down.json()["role"] == "developer"
