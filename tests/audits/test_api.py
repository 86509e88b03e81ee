"""`/api/v1/audits` end to end: a local path, a git URL served over HTTP, shapes, access,
reports in three formats, the progress WebSocket, deletion, and usage figures."""

import io
import subprocess
import threading
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from pypdf import PdfReader

from atrium.audits.tables import Audit
from tests.audits import fixtures

AUDITS = "/api/v1/audits"


@pytest.fixture(scope="module")
def roots(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("audit-roots")


@pytest.fixture(scope="module")
def settings_overrides(roots) -> dict[str, object]:
    return {"audit_roots": [str(roots)]}


@pytest.fixture(scope="module")
def planted_path(roots) -> Path:
    return fixtures.planted_repository(roots / "planted")


@pytest.fixture(scope="module")
def git_server(tmp_path_factory):
    """The planted repository as a bare repository over git's "dumb" HTTP protocol."""
    base = tmp_path_factory.mktemp("served")
    source = fixtures.planted_repository(base / "work")
    bare = base / "planted.git"
    subprocess.run(["git", "clone", "-q", "--bare", str(source), str(bare)], check=True)
    subprocess.run(["git", "-C", str(bare), "update-server-info"], check=True)
    handler = partial(SimpleHTTPRequestHandler, directory=str(base))
    handler.log_message = lambda *args: None
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/planted.git"
    server.shutdown()


def wait(client, run, app):
    fixtures.wait_for_audits(run, app)


def start(client, headers, **body):
    return client.post(AUDITS, json=body, headers=headers)


def finished(client, run, app, headers, **body) -> dict:
    response = start(client, headers, **body)
    assert response.status_code == 202, response.text
    wait(client, run, app)
    return client.get(f"{AUDITS}/{response.json()['id']}", headers=headers).json()


def test_local_path_audit_end_to_end(client, run, app, create_user, planted_path):
    owner = create_user()
    response = start(client, owner.headers, repository=str(planted_path))
    assert response.status_code == 202, response.text
    created = response.json()
    assert response.headers["Location"] == f"{AUDITS}/{created['id']}"
    assert created["status"] == "pending" and created["filesScanned"] == 0
    assert created["createdAt"].endswith("Z") and created["id"].isdigit()
    wait(client, run, app)
    audit = client.get(f"{AUDITS}/{created['id']}", headers=owner.headers).json()
    assert audit["status"] == "completed", audit
    assert audit["progress"] == 100 and audit["filesScanned"] == 10
    assert audit["completedAt"].endswith("Z")
    summary = audit["summary"]
    assert summary["riskScore"] == 75 and summary["projectLicense"] == "MIT"
    assert summary["findings"]["critical"] == 2 and summary["secrets"] == 1

    report = client.get(f"{AUDITS}/{created['id']}/report", headers=owner.headers)
    assert report.status_code == 200
    assert f'filename="audit-{created["id"]}.json"' in report.headers["content-disposition"]
    kinds = {f["kind"] for f in report.json()["findings"]}
    assert kinds == {
        "secret_committed",
        "copyleft_in_permissive_project",
        "incompatible_dependency_license",
    }
    html = client.get(f"{AUDITS}/{created['id']}/report?format=html", headers=owner.headers)
    assert html.headers["content-type"].startswith("text/html") and "<svg" in html.text
    assert html.headers["content-security-policy"] == "sandbox"
    pdf = client.get(f"{AUDITS}/{created['id']}/report?format=pdf", headers=owner.headers)
    text = " ".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf.content)).pages)
    assert "agpl-server" in text and "GPL-3.0-or-later" in text and "Bob Builder" in text
    assert fixtures.AWS_KEY not in report.text + html.text


def test_git_url_over_http_by_an_admin(client, run, app, create_user, git_server):
    admin = create_user("admin")
    audit = finished(client, run, app, admin.headers, repository=git_server, branch="main")
    assert audit["status"] == "completed", audit
    assert audit["branch"] == "main" and audit["summary"]["contributors"] == 2
    data = client.get(f"{AUDITS}/{audit['id']}/report", headers=admin.headers).json()
    emails = {c["email"] for c in data["history"]["contributors"]}
    assert emails == {"alice@example.com", "bob@example.com"}


def test_private_addresses_are_refused_to_users(client, create_user, git_server):
    user = create_user()
    response = start(client, user.headers, repository=git_server)
    assert response.status_code == 400
    assert "not a public internet address" in response.json()["detail"]
    assert response.json()["code"] == "invalid_audit_source"


@pytest.mark.parametrize(
    ("repository", "fragment"),
    [
        ("ftp://example.com/repo.git", "Only http(s) and ssh"),
        ("file:///etc", "Only http(s) and ssh"),
        ("ext::sh -c touch% /tmp/pwned", "spaces"),
        ("https://user:pw@example.com/r.git", "credentials"),
        ("https://no-such-host.invalid/r.git", "Could not resolve"),
        ("/etc", "not under an audit root"),
        ("relative/path", "Only http(s) and ssh"),
    ],
)
def test_bad_sources_are_clear_400s(client, create_user, repository, fragment):
    response = start(client, create_user().headers, repository=repository)
    assert response.status_code == 400, response.text
    assert fragment in response.json()["detail"]


def test_non_git_path_and_bad_branch(client, create_user, roots):
    plain = roots / "plain"
    fixtures.write(plain, {"a.py": "print(1)\n"})
    user = create_user()
    response = start(client, user.headers, repository=str(plain))
    assert response.status_code == 400 and "not a git repository" in response.json()["detail"]
    bad_branch = start(client, user.headers, repository=str(roots / "planted"), branch="--upload")
    assert bad_branch.status_code == 400 and "branch" in bad_branch.json()["detail"]


def test_body_needs_exactly_one_source(client, create_user):
    headers = create_user().headers
    assert start(client, headers).status_code == 422
    assert start(client, headers, repository="https://x.org/r.git", file_id=1).status_code == 422


def test_unreachable_repository_fails_with_a_reason(client, run, app, create_user):
    admin = create_user("admin")
    audit = finished(client, run, app, admin.headers, repository="http://127.0.0.1:9/none.git")
    assert audit["status"] == "failed"
    assert audit["error"].startswith("Could not clone http://127.0.0.1:9/none.git")
    report = client.get(f"{AUDITS}/{audit['id']}/report", headers=admin.headers)
    assert report.status_code == 400 and report.json()["code"] == "report_not_ready"


def _insert_pending(run, app, user_id: int) -> int:
    async def insert() -> int:
        async with app.state.db.sessions() as session:
            audit = Audit(user_id=user_id, source_type="git", repository="https://x.org/r.git")
            session.add(audit)
            await session.commit()
            return audit.id

    return run(insert)


def test_access_rules(client, run, app, create_user, planted_path):
    owner, other, viewer = create_user(), create_user(), create_user("viewer")
    assert client.get(AUDITS).status_code == 401
    assert client.post(AUDITS, json={"repository": str(planted_path)}).status_code == 401
    assert start(client, viewer.headers, repository=str(planted_path)).status_code == 403
    audit_id = _insert_pending(run, app, owner.id)
    for path in (f"{AUDITS}/{audit_id}", f"{AUDITS}/{audit_id}/report"):
        assert client.get(path, headers=other.headers).status_code == 404
        assert client.get(path).status_code == 401
    assert client.delete(f"{AUDITS}/{audit_id}", headers=other.headers).status_code == 404
    assert client.delete(f"{AUDITS}/{audit_id}", headers=viewer.headers).status_code == 403
    pending = client.get(f"{AUDITS}/{audit_id}/report", headers=owner.headers)
    assert pending.status_code == 400 and "pending" in pending.json()["detail"]
    bad = client.get(f"{AUDITS}/{audit_id}/report?format=docx", headers=owner.headers)
    assert bad.status_code == 400 and bad.json()["code"] == "invalid_report_format"
    assert client.get(f"{AUDITS}/{2**40}", headers=owner.headers).status_code == 422


def test_list_newest_first_paginated_and_filtered(client, run, app, create_user):
    owner = create_user()
    ids = [_insert_pending(run, app, owner.id) for _ in range(3)]
    listed = client.get(AUDITS, headers=owner.headers).json()
    assert listed["total"] == 3 and [a["id"] for a in listed["audits"]] == [
        str(i) for i in reversed(ids)
    ]
    page = client.get(f"{AUDITS}?skip=1&limit=1", headers=owner.headers).json()
    assert page["total"] == 3 and [a["id"] for a in page["audits"]] == [str(ids[1])]
    done = client.get(f"{AUDITS}?status=completed", headers=owner.headers).json()
    assert done == {"audits": [], "total": 0}
    assert client.get(f"{AUDITS}?status=weird", headers=owner.headers).status_code == 400
    assert client.get(f"{AUDITS}?limit=1001", headers=owner.headers).status_code == 422


def test_delete_removes_row_and_report_bytes(client, run, app, create_user, planted_path):
    owner = create_user()
    audit = finished(client, run, app, owner.headers, repository=str(planted_path))
    keys = [entry["key"] for entry in run(_reports_of, app, int(audit["id"])).values()]
    storage_root = app.state.settings.data_dir / "files"
    assert all(any(storage_root.rglob(Path(key).name)) for key in keys)
    response = client.delete(f"{AUDITS}/{audit['id']}", headers=owner.headers)
    assert response.status_code == 200
    assert response.json() == {"message": "Audit deleted", "id": audit["id"], "deleted": True}
    assert client.get(f"{AUDITS}/{audit['id']}", headers=owner.headers).status_code == 404
    assert not any(any(storage_root.rglob(Path(key).name)) for key in keys)


async def _reports_of(app, audit_id: int) -> dict:
    async with app.state.db.sessions() as session:
        return (await session.get(Audit, audit_id)).reports


def messages_until_close(ws) -> list[dict]:
    from starlette.websockets import WebSocketDisconnect

    seen = []
    try:
        while True:
            seen.append(ws.receive_json())
    except WebSocketDisconnect:
        return seen


def test_websocket_replays_integer_percent_then_closes(client, run, app, create_user, planted_path):
    owner, other = create_user(), create_user()
    audit = finished(client, run, app, owner.headers, repository=str(planted_path))
    with client.websocket_connect(f"/ws/audits/{audit['id']}?token={owner.token}") as ws:
        seen = messages_until_close(ws)
    progress = [m["progress"] for m in seen if "progress" in m]
    assert progress and all(isinstance(p, int) for p in progress)
    assert progress == sorted(progress) and progress[-1] == 100
    assert seen[-1]["status"] == "completed"
    assert {m["status"] for m in seen if "status" in m} <= {"pending", "processing", "completed"}
    for url in (f"/ws/audits/{audit['id']}?token={other.token}", f"/ws/audits/{audit['id']}"):
        with pytest.raises(Exception), client.websocket_connect(url) as ws:  # noqa: B017
            ws.receive_json()


def test_websocket_follows_a_running_audit(client, run, app, create_user, planted_path):
    owner = create_user()
    created = start(client, owner.headers, repository=str(planted_path)).json()
    with client.websocket_connect(f"/ws/audits/{created['id']}?token={owner.token}") as ws:
        seen = messages_until_close(ws)
    assert seen[-1]["status"] == "completed"
    progress = [m["progress"] for m in seen if "progress" in m]
    assert progress == sorted(progress) and progress[-1] == 100


def test_usage_counts_files_scanned_and_report_storage(client, run, app, create_user, roots):
    owner = create_user()
    before = client.get("/api/v1/usage/stats", headers=owner.headers).json()
    assert before["filesScanned"] == 0
    audit = finished(client, run, app, owner.headers, repository=str(roots / "planted"))
    stats = client.get("/api/v1/usage/stats", headers=owner.headers).json()
    assert stats["filesScanned"] == audit["filesScanned"] == 10
    reports = run(_reports_of, app, int(audit["id"]))
    assert stats["storageUsed"] - before["storageUsed"] == sum(e["bytes"] for e in reports.values())
    history = client.get("/api/v1/usage/history?days=7", headers=owner.headers).json()
    assert sum(day["filesScanned"] for day in history["data"]) == 10


def test_plan_quota_refuses_new_audits_with_429(client, run, app, admin, create_user, planted_path):
    owner = create_user()
    tier = {"name": "ten-files", "files_scanned": 10}
    assert client.post("/api/v1/admin/tiers", json=tier, headers=admin.headers).status_code == 201
    assigned = client.put(
        f"/api/v1/admin/users/{owner.id}/tier", json={"tier": "ten-files"}, headers=admin.headers
    )
    assert assigned.status_code == 200, assigned.text
    finished(client, run, app, owner.headers, repository=str(planted_path))  # 10 files
    stats = client.get("/api/v1/usage/stats", headers=owner.headers).json()
    assert stats["filesScanned"] == 10 and stats["monthlyLimit"] == 10

    response = start(client, owner.headers, repository=str(planted_path))
    assert response.status_code == 429, response.text
    body = response.json()
    assert body["code"] == "plan_quota_exceeded"
    assert "monthly limit of 10 files scanned" in body["detail"]
    assert int(response.headers["Retry-After"]) > 0
    assert client.get(AUDITS, headers=owner.headers).json()["total"] == 1
