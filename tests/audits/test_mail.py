"""The owner gets an email when an audit ends (real SMTP server on a loopback port)."""

import pytest

from tests.audits import fixtures
from tests.recovery.smtp import SmtpServer, body_text


@pytest.fixture(scope="module")
def smtp():
    with SmtpServer() as server:
        yield server


@pytest.fixture(scope="module")
def roots(tmp_path_factory):
    return tmp_path_factory.mktemp("roots")


@pytest.fixture(scope="module")
def settings_overrides(smtp, roots):
    return {
        "smtp_host": "127.0.0.1",
        "smtp_port": smtp.port,
        "smtp_starttls": False,
        "smtp_from": "atrium@example.org",
        "audit_roots": [str(roots)],
    }


def test_owner_is_mailed_when_an_audit_completes_or_fails(
    client, run, app, create_user, smtp, roots
):
    owner = create_user()
    repo = fixtures.planted_repository(roots / "planted")
    response = client.post("/api/v1/audits", json={"repository": str(repo)}, headers=owner.headers)
    assert response.status_code == 202
    fixtures.wait_for_audits(run, app)
    [message] = smtp.inbox.wait_for(owner.email)
    assert "completed: risk 75/100" in message["Subject"]
    text = body_text(message)
    assert "Files scanned: 10" in text and "2 critical" in text
    assert f"/api/v1/audits/{response.json()['id']}" in text
    admin = create_user("admin")
    client.post(
        "/api/v1/audits", json={"repository": "http://127.0.0.1:9/x.git"}, headers=admin.headers
    )
    fixtures.wait_for_audits(run, app)
    [failed] = smtp.inbox.wait_for(admin.email)
    assert "failed" in failed["Subject"] and "Could not clone" in body_text(failed)
