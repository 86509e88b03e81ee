"""Pipelines (discovery → waste analysis → report, each step a job), their schedules and
ownership; the per-user `/ws/client` stream; the remediation trail in the activity feed and
the audit log. Against a real moto server with the seeded estate."""

import json
import time

import pytest
from sqlalchemy import select, update
from starlette.websockets import WebSocketDisconnect

from atrium.auth.websocket import CLOSE_FORBIDDEN, CLOSE_UNAUTHENTICATED
from atrium.cloud import events as cloud_events
from atrium.cloud.tables import Pipeline, PipelineRun
from atrium.db import utcnow
from tests.cloud.conftest import PRINCIPAL, aws, iam_keys, seed_estate

REGIONS = ["eu-west-1", "us-east-1"]
STATE: dict = {}


@pytest.fixture(scope="module")
def settings_overrides(aws_endpoint):
    return {
        "aws_principal_arn": PRINCIPAL,
        "cloud_snapshot_max_age_days": 0,
        "cloud_stopped_max_days": 0,
        "jobs_poll_seconds": 0.05,
        "cloud_pipeline_poll_seconds": 1,
    }


@pytest.fixture(scope="module")
def estate(aws_endpoint):
    return seed_estate()


@pytest.fixture(scope="module")
def tenant(client, app):
    from tests.conftest import make_user

    return make_user(client, app, "user")


def _receive_until(socket, wanted: set[str], stop: set[str] = frozenset()) -> list[dict]:
    """Messages until every type in `wanted` arrived (or one in `stop`)."""
    received: list[dict] = []
    while not wanted <= {m["type"] for m in received}:
        message = socket.receive_json()
        received.append(message)
        assert message["type"] not in stop, received
    return received


def _finished_run(client, headers, location: str) -> dict:
    deadline = time.monotonic() + 300
    while True:
        run = client.get(location, headers=headers).json()
        if run["status"] != "running":
            return run
        assert time.monotonic() < deadline, run
        time.sleep(0.1)


def test_the_client_stream_shows_connection_discovery_and_waste(client, tenant, estate):
    for path in ("/ws/client", "/ws/client?token=nonsense"):
        with client.websocket_connect(path) as socket, pytest.raises(WebSocketDisconnect) as err:
            socket.receive_json()
        assert err.value.code == CLOSE_UNAUTHENTICATED
    key, secret = iam_keys("pipeline-tenant", None)
    with client.websocket_connect(f"/ws/client?token={tenant.token}") as socket:
        connected = client.post(
            "/onboarding/connect/credentials",
            json={"access_key": key, "secret_key": secret, "regions": REGIONS},
            headers=tenant.headers,
        )
        assert connected.status_code == 200, connected.text
        account_id = connected.json()["account_id"]
        messages = _receive_until(
            socket,
            {"account.connected", "discovery.completed", "waste.found"},
            {"discovery.failed"},
        )
    STATE["account_id"] = account_id
    types = [m["type"] for m in messages]
    assert types[:2] == ["account.connected", "discovery.started"]
    assert {m["account_id"] for m in messages} == {account_id}
    progress = [m["data"] for m in messages if m["type"] == "discovery.progress"]
    assert sorted(p["region"] for p in progress) == REGIONS
    assert progress[-1]["regions_done"] == progress[-1]["regions_total"] == 2
    waste = next(m["data"] for m in messages if m["type"] == "waste.found")
    assert waste["findings"] == 7 and waste["by_rule"]["idle_instance"] == 2
    assert [m["id"] for m in messages] == sorted(m["id"] for m in messages)
    STATE["first_event"] = messages[0]["id"]


def test_a_user_receives_only_their_own_accounts_events(client, app, tenant, create_user):
    other = create_user()
    viewer = create_user("viewer")
    with (
        client.websocket_connect("/ws/client", headers=viewer.headers) as socket,
        pytest.raises(WebSocketDisconnect) as err,
    ):
        socket.receive_json()
    assert err.value.code == CLOSE_FORBIDDEN

    async def mark(user_id: int) -> None:
        async with app.state.db.sessions() as session:
            await cloud_events.emit(session, user_id=user_id, type="test.marker")
            await session.commit()

    # the tenant's events are older rows; the other user's stream from the start holds none
    with client.websocket_connect("/ws/client?after=0", headers=other.headers) as socket:
        client.portal.call(mark, other.id)
        first = socket.receive_json()
    assert first["type"] == "test.marker" and first["account_id"] is None
    with client.websocket_connect(
        f"/ws/client?after={STATE['first_event']}", subprotocols=["bearer", tenant.token]
    ) as socket:
        assert socket.accepted_subprotocol == "bearer"
        assert socket.receive_json()["type"] == "discovery.started"


def test_a_pipeline_chains_discovery_waste_and_report(client, tenant):
    account_id = STATE["account_id"]
    assert client.post("/api/v1/cloud/pipelines", json={}).status_code == 401
    created = client.post(
        "/api/v1/cloud/pipelines",
        json={"name": "weekly review", "account_id": account_id},
        headers=tenant.headers,
    )
    assert created.status_code == 201, created.text
    pipeline = created.json()
    assert pipeline["steps"] == ["discovery", "waste_analysis", "report"]
    assert pipeline["schedule"] is None and pipeline["last_run"] is None
    STATE["pipeline"] = pipeline["id"]

    started = client.post(f"/api/v1/cloud/pipelines/{pipeline['id']}/run", headers=tenant.headers)
    assert started.status_code == 202, started.text
    assert started.json()["trigger"] == "manual"
    assert started.json()["steps"][0]["status"] == "running"
    location = started.headers["Location"]
    run = _finished_run(client, tenant.headers, location)
    assert run["status"] == "completed", run
    assert [(s["name"], s["status"]) for s in run["steps"]] == [
        ("discovery", "completed"),
        ("waste_analysis", "completed"),
        ("report", "completed"),
    ]
    assert len({s["job_id"] for s in run["steps"]}) == 3
    discovery, analysis, report_step = (s["result"] for s in run["steps"])
    assert discovery["counts"]["instance"] == 5
    assert analysis["findings"] == 7 and analysis["by_rule"]["unattached_volume"] == 2
    assert report_step["findings"] == 7 and run["report_available"] is True
    jobs = {j["id"]: j for j in client.get("/api/v1/jobs", headers=tenant.headers).json()}
    assert {jobs[s["job_id"]]["kind"] for s in run["steps"]} == {
        "cloud.discovery",
        "cloud.waste_analysis",
        "cloud.report",
    }

    report = client.get(f"{location}/report", headers=tenant.headers)
    assert report.status_code == 200 and report.headers["content-type"] == "application/json"
    body = report.json()
    assert body["waste"]["open"] == 7 and len(body["findings"]) == 7
    assert body["inventory"]["instance"]["count"] == 5
    assert body["account"]["id"] == account_id and body["prices"]["as_of"]
    html = client.get(f"{location}/report?format=html", headers=tenant.headers)
    assert html.headers["content-type"].startswith("text/html")
    assert "weekly review" in html.text and body["findings"][0]["resource_id"] in html.text
    pdf = client.get(f"{location}/report?format=pdf", headers=tenant.headers)
    assert pdf.headers["content-type"] == "application/pdf" and pdf.content[:5] == b"%PDF-"
    listed = client.get("/api/v1/cloud/pipelines", headers=tenant.headers).json()
    assert [(p["id"], p["last_run"]["status"]) for p in listed] == [(pipeline["id"], "completed")]
    STATE["run_location"] = location


def test_other_users_pipelines_are_not_found(client, tenant, create_user):
    pipeline_id, location = STATE["pipeline"], STATE["run_location"]
    other = create_user()
    base = f"/api/v1/cloud/pipelines/{pipeline_id}"
    assert client.get("/api/v1/cloud/pipelines", headers=other.headers).json() == []
    for method, path in (
        ("GET", base),
        ("PATCH", base),
        ("DELETE", base),
        ("POST", f"{base}/run"),
        ("GET", f"{base}/runs"),
        ("GET", location),
        ("GET", f"{location}/report"),
    ):
        answer = client.request(
            method, path, headers=other.headers, json={} if method == "PATCH" else None
        )
        assert answer.status_code == 404, (method, path, answer.text)
    foreign = client.post(
        "/api/v1/cloud/pipelines",
        json={"name": "theirs", "account_id": STATE["account_id"]},
        headers=other.headers,
    )
    assert foreign.status_code == 404
    viewer = create_user("viewer")
    assert client.post(f"{base}/run", headers=viewer.headers).status_code == 403


def test_bad_pipelines_are_refused(client, tenant):
    account_id = STATE["account_id"]
    for body in (
        {"name": "x", "account_id": account_id, "steps": ["report", "discovery"]},
        {"name": "x", "account_id": account_id, "steps": ["report", "report"]},
        {"name": "x", "account_id": account_id, "steps": ["backup"]},
        {
            "name": "x",
            "account_id": account_id,
            "schedule": {"every_seconds": 3600, "cron": "0 3 * * *"},
        },
        {"name": "x", "account_id": account_id, "schedule": {"cron": "every day at 3"}},
        {"name": "x", "account_id": account_id, "schedule": {"every_seconds": 5}},
    ):
        answer = client.post("/api/v1/cloud/pipelines", json=body, headers=tenant.headers)
        assert answer.status_code == 422, (body, answer.text)


def test_a_failed_step_stops_the_chain_and_says_why(client, tenant, monkeypatch):
    pipeline_id = STATE["pipeline"]
    monkeypatch.setenv("AWS_ENDPOINT_URL_CLOUDWATCH", "http://127.0.0.1:9")
    started = client.post(f"/api/v1/cloud/pipelines/{pipeline_id}/run", headers=tenant.headers)
    assert started.status_code == 202
    run = _finished_run(client, tenant.headers, started.headers["Location"])
    assert run["status"] == "failed"
    assert run["error"].startswith("step 'discovery' failed:") and "cloudwatch" in run["error"]
    assert [s["status"] for s in run["steps"]] == ["failed", "skipped", "skipped"]
    assert "Could not connect" in run["steps"][0]["error"]
    assert run["report_available"] is False
    missing = client.get(f"{started.headers['Location']}/report", headers=tenant.headers)
    assert missing.status_code == 409 and missing.json()["code"] == "report_not_ready"


def test_a_running_pipeline_refuses_a_second_run(client, app, run, tenant):
    pipeline_id = int(STATE["pipeline"])

    async def set_last_run(status: str) -> None:
        async with app.state.db.sessions() as session:
            last = await session.scalar(
                select(PipelineRun.id)
                .where(PipelineRun.pipeline_id == pipeline_id)
                .order_by(PipelineRun.id.desc())
                .limit(1)
            )
            await session.execute(
                update(PipelineRun).where(PipelineRun.id == last).values(status=status)
            )
            await session.commit()

    run(set_last_run, "running")
    busy = client.post(f"/api/v1/cloud/pipelines/{pipeline_id}/run", headers=tenant.headers)
    assert busy.status_code == 409 and busy.json()["code"] == "pipeline_running"
    refused = client.delete(f"/api/v1/cloud/pipelines/{pipeline_id}", headers=tenant.headers)
    assert refused.status_code == 409
    run(set_last_run, "failed")


def test_a_schedule_fires_through_the_job_engine(client, app, run, tenant):
    created = client.post(
        "/api/v1/cloud/pipelines",
        json={
            "name": "nightly waste",
            "account_id": STATE["account_id"],
            "steps": ["waste_analysis", "report"],
            "schedule": {"cron": "0 3 * * *"},
        },
        headers=tenant.headers,
    )
    assert created.status_code == 201, created.text
    pipeline = created.json()
    assert pipeline["schedule"] == {"every_seconds": None, "cron": "0 3 * * *"}
    assert pipeline["next_run_at"].endswith("03:00:00Z")

    async def make_due() -> None:
        async with app.state.db.sessions() as session:
            await session.execute(
                update(Pipeline)
                .where(Pipeline.id == int(pipeline["id"]))
                .values(next_run_at=utcnow().replace(microsecond=0))
            )
            await session.commit()

    run(make_due)
    base = f"/api/v1/cloud/pipelines/{pipeline['id']}"
    deadline = time.monotonic() + 120
    while not (runs := client.get(f"{base}/runs", headers=tenant.headers).json()):
        assert time.monotonic() < deadline, "the due schedule never fired"
        time.sleep(0.2)
    (fired,) = runs
    assert fired["trigger"] == "schedule"
    finished = _finished_run(client, tenant.headers, f"{base}/runs/{fired['id']}")
    assert finished["status"] == "completed", finished
    assert [s["name"] for s in finished["steps"]] == ["waste_analysis", "report"]
    after = client.get(base, headers=tenant.headers).json()
    assert after["next_run_at"] > pipeline["created_at"] and after["next_run_at"].endswith(
        "03:00:00Z"
    )
    assert len(client.get(f"{base}/runs", headers=tenant.headers).json()) == 1
    changed = client.patch(
        base, json={"schedule": None, "enabled": False}, headers=tenant.headers
    ).json()
    assert changed["schedule"] is None and changed["next_run_at"] is None
    deleted = client.delete(base, headers=tenant.headers)
    assert deleted.status_code == 200 and deleted.json() == {"id": pipeline["id"], "deleted": True}
    assert client.get(base, headers=tenant.headers).status_code == 404


def _activity(client, headers, remediation_ids: set[str]) -> list[tuple[str, str]]:
    rows = client.get("/api/v1/activity?type=system&limit=1000", headers=headers).json()
    return sorted(
        (row["subject_id"], row["action"])
        for row in rows
        if row["subject_type"] == "cloud_remediation" and row["subject_id"] in remediation_ids
    )


def _finding(client, tenant, rule: str) -> dict:
    findings = client.get(f"/api/v1/cloud/waste?rule={rule}", headers=tenant.headers).json()
    return findings[0]


def test_every_governance_step_is_in_the_trail(client, tenant, create_user, estate):
    admin = create_user("admin")
    idle = next(
        f
        for f in client.get("/api/v1/cloud/waste?rule=idle_instance", headers=tenant.headers).json()
        if f["resource_id"] == estate["idle"]
    )
    with client.websocket_connect("/ws/client", headers=tenant.headers) as socket:
        asked = client.post(
            "/api/v1/cloud/remediations",
            json={"finding_id": idle["id"], "action": "stop-instance"},
            headers=tenant.headers,
        ).json()
        approval = _receive_until(socket, {"approval.requested"})[-1]
    assert approval["data"]["remediation_id"] == asked["id"]
    assert approval["data"]["status"] == "pending_approval"
    rejected = client.post(
        f"/api/v1/cloud/approvals/{asked['id']}/reject",
        json={"comment": "batch host"},
        headers=admin.headers,
    )
    assert rejected.json()["status"] == "rejected"
    again = client.post(
        "/api/v1/cloud/remediations",
        json={"finding_id": idle["id"], "action": "stop-instance"},
        headers=tenant.headers,
    ).json()
    approved = client.post(f"/api/v1/cloud/approvals/{again['id']}/approve", headers=admin.headers)
    assert approved.json()["status"] == "completed"

    # a change that AWS refuses: the snapshot is gone before the remediation runs
    snapshot = _finding(client, tenant, "orphaned_snapshot")
    aws("ec2").delete_snapshot(SnapshotId=snapshot["resource_id"])
    client.post(
        "/api/v1/governance/policies",
        json={"name": "snapshots", "action": "delete-snapshot", "requires_approval": False},
        headers=tenant.headers,
    )
    failed = client.post(
        "/api/v1/cloud/remediations",
        json={"finding_id": snapshot["id"], "action": "delete-snapshot"},
        headers=tenant.headers,
    ).json()
    assert failed["status"] == "failed" and failed["error"]

    ids = {asked["id"], again["id"], failed["id"]}
    assert _activity(client, admin.headers, ids) == sorted(
        [
            (asked["id"], "cloud.remediation.requested"),
            (asked["id"], "cloud.remediation.approval_requested"),
            (asked["id"], "cloud.remediation.rejected"),
            (again["id"], "cloud.remediation.requested"),
            (again["id"], "cloud.remediation.approval_requested"),
            (again["id"], "cloud.remediation.approved"),
            (again["id"], "cloud.remediation.executed"),
            (failed["id"], "cloud.remediation.requested"),
            (failed["id"], "cloud.remediation.failed"),
        ]
    )
    # the tenant's own feed holds their own steps; the decisions are the administrator's
    own = {action for _, action in _activity(client, tenant.headers, ids)}
    assert "cloud.remediation.rejected" not in own and "cloud.remediation.requested" in own
    rows = client.get("/api/v1/activity?type=system&limit=1000", headers=admin.headers).json()
    rejected_row = next(
        r
        for r in rows
        if r["subject_id"] == asked["id"] and r["action"] == "cloud.remediation.rejected"
    )
    assert "batch host" in rejected_row["description"]

    # the audit log holds the HTTP requests of each step, with who made them
    wanted = {
        ("POST", "/api/v1/cloud/remediations", str(tenant.id)),
        ("POST", f"/api/v1/cloud/approvals/{asked['id']}/reject", str(admin.id)),
        ("POST", f"/api/v1/cloud/approvals/{again['id']}/approve", str(admin.id)),
    }
    deadline = time.monotonic() + 30
    while True:
        entries = client.get(
            "/api/v1/audit-log?path=/api/v1/cloud/&limit=1000", headers=admin.headers
        ).json()
        seen = {(e["method"], e["path"], e["user_id"]) for e in entries if e["status"] < 300}
        if wanted <= seen:
            break
        assert time.monotonic() < deadline, (wanted - seen, json.dumps(entries)[:2000])
        time.sleep(0.2)
