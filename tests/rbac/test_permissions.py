"""Seed 002's /api/v1/permissions: matrix, roles, grants and checks."""

from fastapi.testclient import TestClient

from atrium.rbac.defaults import RESOURCES

BUILTIN = {"admin", "moderator", "developer", "analyst", "viewer", "user"}


def make_role(client: TestClient, headers, name: str, permissions=None, level: int = 5):
    response = client.post(
        "/api/v1/permissions/roles",
        json={
            "name": name,
            "description": f"{name} role",
            "permissions": permissions or {},
            "level": level,
        },
        headers=headers,
    )
    assert response.status_code == 201, response.text
    return response.json()


def test_matrix_shape(client: TestClient, admin) -> None:
    response = client.get("/api/v1/permissions/matrix", headers=admin.headers)
    assert response.status_code == 200
    body = response.json()
    assert set(body["matrix"]) >= BUILTIN
    admin_entry = body["matrix"]["admin"]
    assert admin_entry["role_info"] == {
        "name": "Admin",
        "description": "Full access to everything",
        "level": 1,
        "is_system": True,
    }
    assert set(admin_entry["permissions"]) == set(RESOURCES)
    assert admin_entry["permissions"]["users"] == ["read", "write", "delete", "execute"]
    assert set(body["resources"]) == set(RESOURCES)
    assert body["resources"]["files"]["available_actions"] == ["read", "write", "delete", "execute"]
    assert set(body["actions"]) == {"read", "write", "delete", "execute"}
    levels = {role: entry["role_info"]["level"] for role, entry in body["matrix"].items()}
    assert levels["admin"] < levels["moderator"] < levels["developer"] < levels["analyst"]
    assert levels["analyst"] < levels["viewer"]


def test_roles_crud(client: TestClient, admin) -> None:
    roles = client.get("/api/v1/permissions/roles", headers=admin.headers)
    assert roles.status_code == 200 and {r["id"] for r in roles.json()} >= BUILTIN
    first_two = client.get("/api/v1/permissions/roles?limit=2", headers=admin.headers).json()
    assert [r["id"] for r in first_two] == ["admin", "moderator"]
    created = make_role(client, admin.headers, "Support Agent", {"projects": ["read"]}, level=4)
    assert created["id"] == "support_agent"
    assert created["permissions"] == {"projects": ["read"]}
    assert created["is_system"] is False
    assert set(created) == {
        "id",
        "name",
        "description",
        "level",
        "permissions",
        "created_at",
        "updated_at",
        "is_system",
    }
    fetched = client.get("/api/v1/permissions/roles/support_agent", headers=admin.headers)
    assert fetched.json() == created
    missing = client.get("/api/v1/permissions/roles/nope", headers=admin.headers)
    assert missing.status_code == 404 and missing.json()["detail"] == "Role 'nope' not found"

    dup = client.post(
        "/api/v1/permissions/roles",
        json={"name": "support agent", "description": "again"},
        headers=admin.headers,
    )
    assert dup.status_code == 409
    reserved = client.post(
        "/api/v1/permissions/roles",
        json={"name": "Admin", "description": "no"},
        headers=admin.headers,
    )
    assert reserved.status_code == 400
    bad_action = client.post(
        "/api/v1/permissions/roles",
        json={"name": "Odd", "description": "odd", "permissions": {"files": ["fly"]}},
        headers=admin.headers,
    )
    assert bad_action.status_code == 400

    updated = client.put(
        "/api/v1/permissions/roles/support_agent",
        json={"description": "Helps customers", "level": 3},
        headers=admin.headers,
    )
    assert updated.status_code == 200
    assert (updated.json()["description"], updated.json()["level"]) == ("Helps customers", 3)
    system_level = client.put(
        "/api/v1/permissions/roles/viewer", json={"level": 2}, headers=admin.headers
    )
    assert system_level.status_code == 403

    deleted = client.delete("/api/v1/permissions/roles/support_agent", headers=admin.headers)
    assert deleted.status_code == 200
    assert deleted.json() == {"id": "support_agent", "deleted": True}
    gone = client.get("/api/v1/permissions/roles/support_agent", headers=admin.headers)
    assert gone.status_code == 404
    for role in BUILTIN:
        refused = client.delete(f"/api/v1/permissions/roles/{role}", headers=admin.headers)
        assert refused.status_code == 403


def test_role_in_use_cannot_be_deleted(client: TestClient, admin, create_user) -> None:
    make_role(client, admin.headers, "Occupied")
    create_user("occupied")
    response = client.delete("/api/v1/permissions/roles/occupied", headers=admin.headers)
    assert response.status_code == 409


def test_custom_role_grant_and_revoke_take_effect_immediately(
    client: TestClient, admin, create_user
) -> None:
    make_role(client, admin.headers, "Auditor")
    holder = create_user("auditor")
    assert client.get("/api/v1/tokens", headers=holder.headers).status_code == 403

    granted = client.post(
        "/api/v1/permissions/grant",
        json={"role_id": "auditor", "resource": "api_keys", "actions": ["read"]},
        headers=admin.headers,
    )
    assert granted.status_code == 200
    assert granted.json()["permissions"] == {"api_keys": ["read"]}
    assert client.get("/api/v1/tokens", headers=holder.headers).status_code == 200

    revoked = client.post(
        "/api/v1/permissions/revoke",
        json={"role": "auditor", "resource": "api_keys", "actions": ["read"]},
        headers=admin.headers,
    )
    assert revoked.status_code == 200
    assert revoked.json()["permissions"] == {}
    assert client.get("/api/v1/tokens", headers=holder.headers).status_code == 403


def test_builtin_role_grants_change_too_but_admin_is_protected(
    client: TestClient, admin, create_user
) -> None:
    viewer = create_user("viewer")
    assert client.get("/api/v1/tokens", headers=viewer.headers).status_code == 403
    client.post(
        "/api/v1/permissions/grant",
        json={"role_id": "viewer", "resource": "api_keys", "actions": ["read"]},
        headers=admin.headers,
    )
    assert client.get("/api/v1/tokens", headers=viewer.headers).status_code == 200
    client.post(
        "/api/v1/permissions/revoke",
        json={"role_id": "viewer", "resource": "api_keys"},
        headers=admin.headers,
    )
    assert client.get("/api/v1/tokens", headers=viewer.headers).status_code == 403
    admin_revoke = client.post(
        "/api/v1/permissions/revoke",
        json={"role_id": "admin", "resource": "users", "actions": ["read"]},
        headers=admin.headers,
    )
    assert admin_revoke.status_code == 403
    unknown = client.post(
        "/api/v1/permissions/grant",
        json={"role_id": "ghost", "resource": "users", "actions": ["read"]},
        headers=admin.headers,
    )
    assert unknown.status_code == 404


def test_bulk_grant_and_revoke(client: TestClient, admin) -> None:
    make_role(client, admin.headers, "Bulk")
    granted = client.post(
        "/api/v1/permissions/bulk-grant",
        json={"role_id": "bulk", "permissions": {"files": ["read", "write"], "llm": ["execute"]}},
        headers=admin.headers,
    )
    assert granted.status_code == 200
    assert granted.json()["permissions"] == {"files": ["read", "write"], "llm": ["execute"]}
    revoked = client.post(
        "/api/v1/permissions/bulk-revoke",
        json={"role_id": "bulk", "permissions": {"files": ["write"], "llm": []}},
        headers=admin.headers,
    )
    assert revoked.status_code == 200
    assert revoked.json()["permissions"] == {"files": ["read"]}


def test_check_get_and_post(client: TestClient, admin, create_user) -> None:
    by_role = client.get(
        "/api/v1/permissions/check?role_id=viewer&resource=files&action=read",
        headers=admin.headers,
    )
    assert by_role.status_code == 200
    assert by_role.json() == {
        "role_id": "viewer",
        "resource": "files",
        "action": "read",
        "has_permission": True,
        "role_level": 5,
        "role_name": "Viewer",
        "user_id": None,
        "allowed": True,
        "reason": "The role 'Viewer' holds files:read",
        "effective_level": "viewer",
    }
    posted = client.post(
        "/api/v1/permissions/check",
        json={"role_id": "viewer", "resource": "files", "action": "delete"},
        headers=admin.headers,
    )
    assert posted.status_code == 200 and posted.json()["has_permission"] is False
    user = create_user()
    by_user = client.get(
        f"/api/v1/permissions/check?user_id={user.id}&resource=files&action=write",
        headers=admin.headers,
    )
    assert by_user.json()["has_permission"] is True
    assert by_user.json()["user_id"] == str(user.id)
    own = client.get("/api/v1/permissions/check?resource=users&action=delete", headers=user.headers)
    assert own.status_code == 200 and own.json()["has_permission"] is False
    others = client.get(
        "/api/v1/permissions/check?role_id=admin&resource=users&action=read", headers=user.headers
    )
    assert others.status_code == 403
    bad = client.get(
        "/api/v1/permissions/check?role_id=viewer&resource=moon&action=read", headers=admin.headers
    )
    assert bad.status_code == 400


def test_user_permissions_and_hierarchy(client: TestClient, admin, create_user) -> None:
    user, other = create_user(), create_user()
    own = client.get(f"/api/v1/permissions/user/{user.id}", headers=user.headers)
    assert own.status_code == 200
    assert own.json()["role_id"] == "user"
    assert own.json()["permissions"]["projects"] == ["read", "write", "delete"]
    foreign = client.get(f"/api/v1/permissions/user/{other.id}", headers=user.headers)
    assert foreign.status_code == 404
    assert (
        client.get(f"/api/v1/permissions/user/{other.id}", headers=admin.headers).status_code == 200
    )
    hierarchy = client.get("/api/v1/permissions/hierarchy", headers=admin.headers)
    assert hierarchy.status_code == 200
    ids = [entry["id"] for entry in hierarchy.json()["hierarchy"]]
    assert ids.index("admin") < ids.index("moderator") < ids.index("developer")
    assert ids.index("developer") < ids.index("analyst") < ids.index("viewer")


def test_permission_routes_refuse_non_admins(client: TestClient, create_user) -> None:
    assert client.get("/api/v1/permissions/matrix").status_code == 401
    assert client.get("/api/v1/permissions/check?resource=files&action=read").status_code == 401
    for role in ("user", "moderator", "developer", "analyst", "viewer"):
        headers = create_user(role).headers
        assert client.get("/api/v1/permissions/matrix", headers=headers).status_code == 403
        assert (
            client.post(
                "/api/v1/permissions/roles", json={"name": "x", "description": "x"}, headers=headers
            ).status_code
            == 403
        )
        assert (
            client.post(
                "/api/v1/permissions/grant",
                json={"role_id": role, "resource": "users", "actions": ["write"]},
                headers=headers,
            ).status_code
            == 403
        )
