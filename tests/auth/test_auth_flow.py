"""Seed 004's auth flow: register, login (every body form), refresh rotation, me, logout."""

from datetime import timedelta
from decimal import Decimal

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from atrium.db import utcnow
from atrium.identity import service as auth_service
from atrium.identity.tables import RefreshToken, RevokedAccessToken
from atrium.security import passwords
from atrium.users.tables import User
from tests.conftest import access_token_for

PASSWORD = "correct-Horse-battery-9"


def register(client: TestClient, name: str, password: str = PASSWORD, **extra):
    body = {"email": f"{name}@example.com", "username": name, "password": password, **extra}
    return client.post("/api/v1/auth/register", json=body)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_register_returns_seed_shape_and_persists(client: TestClient, run, app: FastAPI) -> None:
    response = register(client, "alice")
    assert response.status_code == 201, response.text
    body = response.json()
    assert set(body["user"]) >= {"id", "email", "username", "role", "createdAt", "full_name"}
    assert body["user"]["role"] == "user"
    assert body["user"]["email"] == "alice@example.com"
    assert isinstance(body["user"]["id"], str)
    assert body["user"]["createdAt"].endswith("Z")
    assert set(body["tokens"]) == {"accessToken", "refreshToken"}
    assert body["access_token"] == body["tokens"]["accessToken"]
    assert body["refresh_token"] == body["tokens"]["refreshToken"]
    assert body["token_type"] == "bearer"

    me = client.get("/api/v1/auth/me", headers=bearer(body["tokens"]["accessToken"]))
    assert me.status_code == 200
    assert me.json() == body["user"]

    async def stored() -> tuple[str, Decimal | None]:
        async with app.state.db.sessions() as session:
            user = await session.get(User, int(body["user"]["id"]))
            return user.password_hash, user.monthly_budget_usd

    password_hash, budget = run(stored)
    assert password_hash.startswith("$argon2id$")
    assert budget == Decimal(str(app.state.settings.default_user_budget_usd))


def test_register_cannot_choose_a_role(client: TestClient) -> None:
    response = register(client, "mallory", role="admin", is_active=True)
    assert response.status_code == 201
    assert response.json()["user"]["role"] == "user"


def test_register_duplicates_are_409(client: TestClient) -> None:
    assert register(client, "bob").status_code == 201
    again = register(client, "bob")
    assert again.status_code == 409
    other_name = client.post(
        "/api/v1/auth/register",
        json={"email": "bob@example.com", "username": "bobby", "password": PASSWORD},
    )
    assert other_name.status_code == 409
    same_name = client.post(
        "/api/v1/auth/register",
        json={"email": "bob2@example.com", "username": "BOB", "password": PASSWORD},
    )
    assert same_name.status_code == 409


@pytest.mark.parametrize(
    ("username", "password", "fragment"),
    [
        ("carol1", "short", "at least 8"),
        ("carol2", "carol2", "at least 8"),
        ("carol3333", "carol3333", "username or email"),
        ("carol4", "password123", "too common"),
        ("carol5", "Qwerty123", "too common"),
    ],
)
def test_register_password_policy(
    client: TestClient, username: str, password: str, fragment: str
) -> None:
    response = register(client, username, password)
    assert response.status_code == 422
    assert response.json()["code"] == "weak_password"
    assert fragment in response.json()["detail"]


def test_common_password_list_is_shipped() -> None:
    assert len(passwords.common_passwords()) >= 300


def test_register_rejects_bad_email_and_username(client: TestClient) -> None:
    bad_email = client.post(
        "/api/v1/auth/register",
        json={"email": "not-an-email", "username": "dave", "password": PASSWORD},
    )
    assert bad_email.status_code == 422
    bad_name = client.post(
        "/api/v1/auth/register",
        json={"email": "dave@example.com", "username": "da ve@x", "password": PASSWORD},
    )
    assert bad_name.status_code == 422


def test_login_with_email_username_identifier_and_forms(client: TestClient) -> None:
    assert register(client, "erin").status_code == 201
    for body in (
        {"email": "erin@example.com", "password": PASSWORD},
        {"username": "erin", "password": PASSWORD},
        {"identifier": "ERIN@example.com", "password": PASSWORD},
    ):
        response = client.post("/api/v1/auth/login", json=body)
        assert response.status_code == 200, (body, response.text)
        assert response.json()["user"]["username"] == "erin"
        assert response.json()["access_token"]
    # seed 003's curl -d '{...}' arrives form-encoded
    raw = client.post(
        "/api/v1/auth/login",
        content=b'{"username": "erin", "password": "' + PASSWORD.encode() + b'"}',
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert raw.status_code == 200, raw.text
    form = client.post("/api/v1/auth/login", data={"username": "erin", "password": PASSWORD})
    assert form.status_code == 200, form.text
    text = client.post(
        "/api/v1/auth/login", content=b"erin", headers={"Content-Type": "text/plain"}
    )
    assert text.status_code == 415
    missing = client.post("/api/v1/auth/login", json={"password": PASSWORD})
    assert missing.status_code == 422


def test_docs_authorize_flow_through_token_endpoint(client: TestClient) -> None:
    assert register(client, "frank").status_code == 201
    spec = client.get("/openapi.json").json()
    flows = [
        scheme["flows"]["password"]["tokenUrl"]
        for scheme in spec["components"]["securitySchemes"].values()
        if scheme.get("type") == "oauth2"
    ]
    assert flows == ["/api/v1/auth/token"]
    # Swagger sends the token only to operations that declare the scheme
    for path, method in (("/api/v1/auth/me", "get"), ("/api/v1/tokens", "post")):
        security = spec["paths"][path][method]["security"]
        assert {"OAuth2PasswordBearer": []} in security and {"APIKeyHeader": []} in security
    assert "security" not in spec["paths"]["/api/v1/auth/register"]["post"]
    response = client.post(
        "/api/v1/auth/token",
        data={"grant_type": "password", "username": "frank", "password": PASSWORD},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["token_type"] == "bearer"
    assert client.get("/api/v1/auth/me", headers=bearer(body["access_token"])).status_code == 200
    wrong = client.post("/api/v1/auth/token", data={"username": "frank", "password": "nope-nope"})
    assert wrong.status_code == 401


def test_wrong_password_and_unknown_user_are_alike(client: TestClient, monkeypatch) -> None:
    assert register(client, "gina").status_code == 201
    seen: list[str | None] = []
    real = auth_service.verify_password

    def spy(password_hash: str | None, password: str) -> bool:
        seen.append(password_hash)
        return real(password_hash, password)

    monkeypatch.setattr(auth_service, "verify_password", spy)
    wrong = client.post("/api/v1/auth/login", json={"username": "gina", "password": "wrong-pass"})
    unknown = client.post(
        "/api/v1/auth/login", json={"username": "nobody-here", "password": "wrong-pass"}
    )
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json()["detail"] == unknown.json()["detail"]
    # both paths run exactly one argon2 verification (the unknown user against a dummy hash)
    assert len(seen) == 2 and seen[0] is not None and seen[1] is None


def test_expired_and_tampered_tokens_are_401(client: TestClient, app: FastAPI, create_user) -> None:
    user = create_user()
    expired = access_token_for(app, user.id, user.role, minutes=-1)
    assert client.get("/api/v1/auth/me", headers=bearer(expired)).status_code == 401
    head, payload, signature = user.token.split(".")
    tampered = f"{head}.{payload}.{signature[:-2]}{'AA' if signature[-2:] != 'AA' else 'BB'}"
    assert client.get("/api/v1/auth/me", headers=bearer(tampered)).status_code == 401
    assert client.get("/api/v1/auth/me", headers=bearer("garbage")).status_code == 401
    assert client.get("/api/v1/auth/me").status_code == 401
    assert client.get("/api/v1/auth/me", headers={"Authorization": "Basic abc"}).status_code == 401
    assert client.get("/api/v1/auth/me", headers=user.headers).status_code == 200
    lower = {"Authorization": f"bearer {user.token}"}
    assert client.get("/api/v1/auth/me", headers=lower).status_code == 200


def test_refresh_rotates_and_reuse_revokes_family(client: TestClient, app: FastAPI, run) -> None:
    first = register(client, "hank").json()["tokens"]["refreshToken"]
    rotated = client.post("/api/v1/auth/refresh", json={"refreshToken": first})
    assert rotated.status_code == 200, rotated.text
    second = rotated.json()["refreshToken"]
    assert set(rotated.json()) == {"accessToken", "refreshToken"}
    assert second != first
    me = client.get("/api/v1/auth/me", headers=bearer(rotated.json()["accessToken"]))
    assert me.status_code == 200

    # a parallel refresh with the same token, inside the grace window, gets the same successor
    parallel = client.post("/api/v1/auth/refresh", json={"refresh_token": first})
    assert parallel.status_code == 200
    assert parallel.json()["refreshToken"] == second

    async def age_rotation() -> None:
        async with app.state.db.sessions() as session:
            await session.execute(
                update(RefreshToken)
                .where(RefreshToken.rotated_at.is_not(None))
                .values(rotated_at=utcnow() - timedelta(minutes=5))
            )
            await session.commit()

    run(age_rotation)
    reused = client.post("/api/v1/auth/refresh", json={"refreshToken": first})
    assert reused.status_code == 401
    assert reused.json()["code"] == "refresh_token_reused"
    # the whole family is gone, the successor included
    assert client.post("/api/v1/auth/refresh", json={"refreshToken": second}).status_code == 401


def test_refresh_rejects_unknown_and_expired(client: TestClient, app: FastAPI, run) -> None:
    assert client.post("/api/v1/auth/refresh", json={"refreshToken": "nope"}).status_code == 401
    token = register(client, "ivy").json()["tokens"]["refreshToken"]

    async def expire() -> None:
        async with app.state.db.sessions() as session:
            await session.execute(
                update(RefreshToken)
                .where(RefreshToken.digest == auth_service.token_digest(token))
                .values(expires_at=utcnow() - timedelta(seconds=1))
            )
            await session.commit()

    run(expire)
    assert client.post("/api/v1/auth/refresh", json={"refreshToken": token}).status_code == 401


def test_logout_revokes_refresh_and_access_token(client: TestClient, app: FastAPI, run) -> None:
    tokens = register(client, "jack").json()["tokens"]
    response = client.post(
        "/api/v1/auth/logout",
        json={"refreshToken": tokens["refreshToken"]},
        headers=bearer(tokens["accessToken"]),
    )
    assert response.status_code == 200, response.text
    assert client.post("/api/v1/auth/refresh", json=tokens).status_code == 401
    assert client.get("/api/v1/auth/me", headers=bearer(tokens["accessToken"])).status_code == 401

    async def denied() -> list[str]:
        async with app.state.db.sessions() as session:
            return list(await session.scalars(select(RevokedAccessToken.jti)))

    assert len(run(denied)) == 1


def test_logout_by_refresh_token_alone(client: TestClient) -> None:
    tokens = register(client, "kate").json()["tokens"]
    response = client.post("/api/v1/auth/logout", json={"refreshToken": tokens["refreshToken"]})
    assert response.status_code == 200
    assert client.post("/api/v1/auth/refresh", json=tokens).status_code == 401
    assert client.post("/api/v1/auth/logout", json={}).status_code == 401
    assert client.post("/api/v1/auth/logout").status_code == 401


def test_deactivated_user_is_refused_on_next_request(
    client: TestClient, create_user, admin, api_key
) -> None:
    user = create_user(password=PASSWORD)
    key = api_key(user)
    assert client.get("/api/v1/auth/me", headers=user.headers).status_code == 200
    assert client.get("/api/v1/auth/me", headers={"X-API-Key": key}).status_code == 200
    refresh = client.post(
        "/api/v1/auth/login", json={"email": user.email, "password": PASSWORD}
    ).json()["refresh_token"]
    response = client.patch(
        f"/api/v1/admin/users/{user.id}", json={"isActive": False}, headers=admin.headers
    )
    assert response.status_code == 200, response.text
    assert client.get("/api/v1/auth/me", headers=user.headers).status_code == 401
    assert client.get("/api/v1/auth/me", headers={"X-API-Key": key}).status_code == 401
    assert client.post("/api/v1/auth/refresh", json={"refreshToken": refresh}).status_code == 401
    login = client.post("/api/v1/auth/login", json={"email": user.email, "password": PASSWORD})
    assert login.status_code == 403


def test_verify_token(client: TestClient, create_user) -> None:
    user = create_user(full_name="Vera Token")
    response = client.post("/api/v1/auth/verify-token", headers=user.headers)
    assert response.status_code == 200
    assert response.json()["valid"] is True
    assert response.json()["user"]["full_name"] == "Vera Token"
    assert client.post("/api/v1/auth/verify-token").status_code == 401


def test_me_with_api_key_both_headers(client: TestClient, create_user, api_key) -> None:
    user = create_user()
    key = api_key(user)
    for headers in ({"Authorization": f"Bearer {key}"}, {"X-API-Key": key}):
        response = client.get("/api/v1/auth/me", headers=headers)
        assert response.status_code == 200
        assert response.json()["id"] == str(user.id)


def test_parallel_refreshes_share_one_successor(client: TestClient) -> None:
    from concurrent.futures import ThreadPoolExecutor

    token = register(client, "paula").json()["tokens"]["refreshToken"]

    def refresh(_: int):
        return client.post("/api/v1/auth/refresh", json={"refreshToken": token})

    with ThreadPoolExecutor(max_workers=4) as pool:
        responses = list(pool.map(refresh, range(4)))
    assert [r.status_code for r in responses] == [200] * 4, [r.text for r in responses]
    assert len({r.json()["refreshToken"] for r in responses}) == 1
    successor = responses[0].json()["refreshToken"]
    assert client.post("/api/v1/auth/refresh", json={"refreshToken": successor}).status_code == 200
