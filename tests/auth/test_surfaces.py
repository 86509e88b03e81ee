"""Vault's and seed 003's sign-in paths (CONTRACTS seed 000 and 003)."""

from fastapi.testclient import TestClient

PASSWORD = "surface-Pass-77"


def test_vault_login_and_me(client: TestClient, create_user, api_key) -> None:
    user = create_user("admin", password=PASSWORD, full_name="Vault Admin")
    for name in (user.email, user.username, "Vault Admin"):
        response = client.post("/vault/auth/login", json={"username": name, "password": PASSWORD})
        assert response.status_code == 200, (name, response.text)
    body = response.json()
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 30 * 60
    assert body["user"] == {
        "id": str(user.id),
        "name": "Vault Admin",
        "email": user.email,
        "role": "admin",
        "auth_source": "local",
    }
    me = client.get("/vault/auth/me", headers={"Authorization": f"Bearer {body['token']}"})
    assert me.status_code == 200
    assert me.json()["auth_type"] == "jwt"
    assert me.json()["key_prefix"] is None
    key = client.post(
        "/vault/admin/keys", json={"label": "cli", "scope": "admin"}, headers=user.headers
    ).json()["key"]
    by_key = client.get("/vault/auth/me", headers={"Authorization": f"Bearer {key}"})
    assert by_key.json()["auth_type"] == "key"
    assert by_key.json()["key_prefix"] == key[:12]
    assert by_key.json()["key_scope"] == "admin"
    assert client.get("/vault/auth/me").status_code == 401
    wrong = client.post("/vault/auth/login", json={"username": user.email, "password": "nope"})
    assert wrong.status_code == 401


def test_cloud003_login_me_logout(client: TestClient, create_user) -> None:
    user = create_user(password=PASSWORD, full_name="Cloud Client")
    for body in (
        {"identifier": user.email, "password": PASSWORD},
        {"username": user.username, "password": PASSWORD},
    ):
        response = client.post("/api/auth/login", json=body)
        assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"access_token", "token_type", "user"}
    assert body["user"]["role"] == "client"
    assert body["user"]["full_name"] == "Cloud Client"
    headers = {"Authorization": f"Bearer {body['access_token']}"}
    me = client.get("/api/auth/me", headers=headers)
    assert me.status_code == 200
    assert me.json()["role"] == "client"
    assert me.json()["is_active"] is True
    assert client.post("/api/auth/logout", headers=headers).status_code == 200
    assert client.get("/api/auth/me", headers=headers).status_code == 401
    assert client.post("/api/auth/logout").status_code == 401


def test_cloud003_documented_curl_form_body(client: TestClient, create_user) -> None:
    user = create_user(password=PASSWORD)
    response = client.post(
        "/api/auth/login",
        content=f'{{"username":"{user.username}", "password":"{PASSWORD}"}}'.encode(),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 200, response.text
    admin = create_user("admin", password=PASSWORD)
    shown = client.post("/api/auth/login", json={"identifier": admin.email, "password": PASSWORD})
    assert shown.json()["user"]["role"] == "admin"
