"""Administrator settings (GET/PUT /api/v1/admin/settings): registration toggle, default model."""

from fastapi.testclient import TestClient


def test_settings_round_trip_and_registration_toggle(
    client: TestClient, create_user, admin
) -> None:
    initial = client.get("/api/v1/admin/settings", headers=admin.headers)
    assert initial.status_code == 200
    assert initial.json()["registration_open"] is True
    assert initial.json()["default_model"] is None

    closed = client.put(
        "/api/v1/admin/settings",
        json={"registration_open": False, "default_model": "gpt-4o-mini"},
        headers=admin.headers,
    )
    assert closed.status_code == 200
    assert closed.json()["registration_open"] is False
    assert closed.json()["default_model"] == "gpt-4o-mini"
    body = {"email": "late@example.com", "username": "late", "password": "Late-comer-pass-1"}
    refused = client.post("/api/v1/auth/register", json=body)
    assert refused.status_code == 403
    assert refused.json()["code"] == "registration_closed"
    assert "Registration is closed" in refused.json()["detail"]

    reopened = client.put(
        "/api/v1/admin/settings", json={"registration_open": True}, headers=admin.headers
    )
    assert reopened.json()["registration_open"] is True
    assert reopened.json()["default_model"] == "gpt-4o-mini"
    stored = client.get("/api/v1/admin/settings", headers=admin.headers).json()
    assert stored["default_model"] == "gpt-4o-mini"
    assert client.post("/api/v1/auth/register", json=body).status_code == 201


def test_settings_need_admin(client: TestClient, create_user) -> None:
    assert client.get("/api/v1/admin/settings").status_code == 401
    user = create_user()
    assert client.get("/api/v1/admin/settings", headers=user.headers).status_code == 403
    put = client.put(
        "/api/v1/admin/settings", json={"registration_open": False}, headers=user.headers
    )
    assert put.status_code == 403
    moderator = create_user("moderator")
    assert (
        client.put(
            "/api/v1/admin/settings", json={"registration_open": False}, headers=moderator.headers
        ).status_code
        == 403
    )
