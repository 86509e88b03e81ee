"""Webhooks: signed deliveries when an audit ends, retries with back-off, deliveries listed
with their status, SSRF rule for non-admins, access rules."""

import hashlib
import hmac
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.audits import fixtures

HOOKS = "/api/v1/webhooks"


@pytest.fixture(scope="module")
def roots(tmp_path_factory):
    return tmp_path_factory.mktemp("roots")


@pytest.fixture(scope="module")
def settings_overrides(roots):
    return {"audit_roots": [str(roots)], "webhook_retry_base_seconds": 0.01}


class Receiver:
    def __init__(self) -> None:
        self.requests: list[dict] = []
        self.failures_left = 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.requests.append({"headers": dict(self.headers), "body": body})
                failing = receiver.failures_left > 0
                receiver.failures_left -= 1
                self.send_response(500 if failing else 204)
                self.end_headers()

            def log_message(self, *args):
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"


@pytest.fixture
def receiver():
    server = Receiver()
    yield server
    server.server.shutdown()


def audit_and_settle(client, run, app, headers, path) -> dict:
    response = client.post("/api/v1/audits", json={"repository": str(path)}, headers=headers)
    assert response.status_code == 202, response.text
    fixtures.wait_for_audits(run, app)
    run(app.state.webhook_deliverer.settle)
    return response.json()


def test_signed_delivery_when_an_audit_completes(client, run, app, create_user, roots, receiver):
    admin = create_user("admin")
    created = client.post(HOOKS, json={"url": receiver.url}, headers=admin.headers)
    assert created.status_code == 201, created.text
    hook = created.json()
    assert set(hook) == {"id", "url", "events", "active", "createdAt", "secret"}
    assert hook["events"] == ["audit.completed", "audit.failed"]
    repo = fixtures.planted_repository(roots / "hooked")
    audit = audit_and_settle(client, run, app, admin.headers, repo)
    assert len(receiver.requests) == 1
    request = receiver.requests[0]
    headers = {k.lower(): v for k, v in request["headers"].items()}
    expected = hmac.new(
        hook["secret"].encode(),
        headers["x-atrium-timestamp"].encode() + b"." + request["body"],
        hashlib.sha256,
    ).hexdigest()
    assert headers["x-atrium-signature"] == f"sha256={expected}"
    assert headers["x-atrium-event"] == "audit.completed"
    payload = json.loads(request["body"])
    assert payload["audit"]["id"] == audit["id"] and payload["audit"]["status"] == "completed"
    assert payload["audit"]["filesScanned"] == 10
    deliveries = client.get(f"{HOOKS}/{hook['id']}/deliveries", headers=admin.headers).json()
    assert [(d["status"], d["attempts"], d["responseStatus"]) for d in deliveries] == [
        ("delivered", 1, 204)
    ]
    listed = client.get(HOOKS, headers=admin.headers).json()
    assert [h["id"] for h in listed] == [hook["id"]] and "secret" not in listed[0]


def test_failures_are_retried_then_given_up(client, run, app, create_user, roots, receiver):
    admin = create_user("admin")
    hook = client.post(HOOKS, json={"url": receiver.url}, headers=admin.headers).json()
    receiver.failures_left = 2
    audit_and_settle(client, run, app, admin.headers, fixtures.clean_repository(roots / "r2"))
    rows = client.get(f"{HOOKS}/{hook['id']}/deliveries", headers=admin.headers).json()
    assert [(d["status"], d["attempts"]) for d in rows] == [("delivered", 3)]
    assert len(receiver.requests) == 3
    receiver.failures_left = 100
    audit_and_settle(client, run, app, admin.headers, fixtures.clean_repository(roots / "r3"))
    rows = client.get(f"{HOOKS}/{hook['id']}/deliveries", headers=admin.headers).json()
    assert (rows[0]["status"], rows[0]["attempts"], rows[0]["lastError"]) == (
        "failed",
        5,
        "HTTP 500",
    )


def test_users_cannot_target_private_addresses(client, create_user, receiver):
    user = create_user()
    response = client.post(HOOKS, json={"url": receiver.url}, headers=user.headers)
    assert response.status_code == 400 and "not a public internet address" in response.text
    bad = client.post(HOOKS, json={"url": "ftp://example.com/x"}, headers=user.headers)
    assert bad.status_code == 400
    events = client.post(
        HOOKS, json={"url": receiver.url, "events": ["nope"]}, headers=create_user("admin").headers
    )
    assert events.status_code == 400 and "Unknown events" in events.json()["detail"]


def test_access_rules(client, create_user, receiver):
    owner, other = create_user("admin"), create_user()
    hook = client.post(HOOKS, json={"url": receiver.url}, headers=owner.headers).json()
    assert client.get(HOOKS).status_code == 401
    assert client.post(HOOKS, json={"url": receiver.url}).status_code == 401
    viewer = create_user("viewer")
    assert client.post(HOOKS, json={"url": receiver.url}, headers=viewer.headers).status_code == 403
    for path in (f"{HOOKS}/{hook['id']}", f"{HOOKS}/{hook['id']}/deliveries"):
        assert client.get(path, headers=other.headers).status_code == 404
    assert client.delete(f"{HOOKS}/{hook['id']}", headers=other.headers).status_code == 404
    deleted = client.delete(f"{HOOKS}/{hook['id']}", headers=owner.headers)
    assert deleted.json() == {"id": hook["id"], "deleted": True}
    assert client.get(f"{HOOKS}/{hook['id']}", headers=owner.headers).status_code == 404
