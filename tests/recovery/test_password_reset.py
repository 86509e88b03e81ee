"""Password reset by email (a real SMTP server on loopback) and by an administrator's link."""

import re
from collections.abc import Iterator
from datetime import timedelta
from urllib.parse import parse_qs, urlparse

import pytest
from sqlalchemy import select, update

from atrium.db import utcnow
from atrium.recovery.tables import PasswordResetToken
from tests.conftest import make_user
from tests.recovery.smtp import SmtpServer, body_text

BASE = "https://atrium.example.org"
FORGOT = "/api/v1/auth/forgot-password"
RESET = "/api/v1/auth/reset-password"


@pytest.fixture(scope="module")
def smtp() -> Iterator[SmtpServer]:
    with SmtpServer() as server:
        yield server


@pytest.fixture(scope="module")
def settings_overrides(smtp: SmtpServer) -> dict[str, object]:
    return {
        "smtp_host": "127.0.0.1",
        "smtp_port": smtp.port,
        "smtp_starttls": False,
        "smtp_from": "atrium@example.org",
        "public_base_url": BASE,
    }


def login(client, email: str, password: str):
    return client.post("/api/v1/auth/login", json={"email": email, "password": password})


def token_of(url: str) -> str:
    assert url.startswith(f"{BASE}/reset-password?token=")
    return parse_qs(urlparse(url).query)["token"][0]


def link_in(text: str) -> str:
    found = re.search(r"https://\S+", text)
    assert found, text
    return found.group(0)


def test_forgot_password_emails_a_working_one_time_link(client, app, smtp):
    user = make_user(client, app)
    refresh = login(client, user.email, user.password).json()["refresh_token"]

    known = client.post(FORGOT, json={"email": user.email.upper()})
    unknown = client.post(FORGOT, json={"email": "nobody-here@example.org"})
    assert known.status_code == unknown.status_code == 202
    assert known.json() == unknown.json()

    (message,) = smtp.inbox.wait_for(user.email)
    assert smtp.inbox.to("nobody-here@example.org") == []
    assert message["From"] == "atrium@example.org"
    token = token_of(link_in(body_text(message)))

    done = client.post(RESET, json={"token": token, "new_password": "Brand-new-pass-42"})
    assert done.status_code == 200, done.text
    assert login(client, user.email, user.password).status_code == 401
    assert login(client, user.email, "Brand-new-pass-42").status_code == 200
    # every session of the account is signed out
    assert client.post("/api/v1/auth/refresh", json={"refreshToken": refresh}).status_code == 401
    # single use
    again = client.post(RESET, json={"token": token, "new_password": "Another-pass-43"})
    assert again.status_code == 400
    assert again.json()["code"] == "invalid_reset_token"
    # and the user hears about the change
    notices = smtp.inbox.wait_for(user.email, count=2)
    assert "changed" in notices[1]["Subject"]


def test_tokens_are_stored_hashed_and_expire(client, app, run, smtp):
    user = make_user(client, app)
    assert client.post(FORGOT, json={"email": user.email}).status_code == 202
    token = token_of(link_in(body_text(smtp.inbox.wait_for(user.email)[-1])))

    async def rows() -> list[PasswordResetToken]:
        async with app.state.db.sessions() as session:
            query = select(PasswordResetToken).where(PasswordResetToken.user_id == user.id)
            return list((await session.scalars(query)).all())

    (row,) = run(rows)
    assert token not in (row.digest, str(row.id)) and len(row.digest) == 64

    async def expire() -> None:
        async with app.state.db.sessions() as session:
            await session.execute(
                update(PasswordResetToken)
                .where(PasswordResetToken.id == row.id)
                .values(expires_at=utcnow() - timedelta(seconds=1))
            )
            await session.commit()

    run(expire)
    late = client.post(RESET, json={"token": token, "new_password": "Brand-new-pass-42"})
    assert late.status_code == 400
    assert login(client, user.email, user.password).status_code == 200


def test_weak_password_is_422_and_keeps_the_token(client, app, smtp):
    user = make_user(client, app)
    client.post(FORGOT, json={"email": user.email})
    token = token_of(link_in(body_text(smtp.inbox.wait_for(user.email)[-1])))
    weak = client.post(RESET, json={"token": token, "new_password": "short"})
    assert weak.status_code == 422
    ok = client.post(RESET, json={"token": token, "newPassword": "Good-enough-pass-7"})
    assert ok.status_code == 200
    unknown = client.post(RESET, json={"token": "not-a-token", "new_password": "Whatever-pass-9"})
    assert unknown.status_code == 400


def test_admin_reset_link(client, app, admin, as_user):
    target = make_user(client, app)
    path = f"/api/v1/admin/users/{target.id}/reset-link"
    assert client.post(path).status_code == 401
    assert client.post(path, headers=as_user("user")).status_code == 403
    assert client.post(path, headers=as_user("moderator")).status_code == 403
    missing = client.post("/api/v1/admin/users/2000000000/reset-link", headers=admin.headers)
    assert missing.status_code == 404

    issued = client.post(path, headers=admin.headers)
    assert issued.status_code == 201, issued.text
    body = issued.json()
    assert body["expires_at"].endswith("Z")
    token = token_of(body["url"])

    # seed 003's mirror takes the link too, with camelCase
    done = client.post(
        "/api/auth/reset-password", json={"token": token, "newPassword": "Admin-given-pass-8"}
    )
    assert done.status_code == 200, done.text
    assert login(client, target.email, "Admin-given-pass-8").status_code == 200


def test_cloud003_forgot_password_mirror(client, app, smtp):
    user = make_user(client, app)
    answer = client.post("/api/auth/forgot-password", json={"email": user.email})
    assert answer.status_code == 202
    assert answer.json() == client.post(FORGOT, json={"email": "x@example.org"}).json()
    assert link_in(body_text(smtp.inbox.wait_for(user.email)[-1])).startswith(BASE)
