"""Onboarding, discovery, waste, costs, governance and deletion against a real moto server,
one seeded AWS estate, in the order a tenant lives through them."""

from datetime import UTC, datetime, timedelta

import pytest
import yaml
from sqlalchemy import func, select

from atrium.cloud.tables import (
    CloudAccount,
    CloudCost,
    CloudResource,
    DiscoveryRun,
    Remediation,
    WasteFinding,
)
from tests.cloud.conftest import (
    ACCOUNT,
    PRINCIPAL,
    ROLE_ARN,
    aws,
    iam_keys,
    queue_costs,
    seed_estate,
    wait_for_discoveries,
)

DAYS = [(datetime.now(UTC).date() - timedelta(days=n)).isoformat() for n in range(20, 0, -1)]
BY_SERVICE = {"Amazon Elastic Compute Cloud - Compute": 10.0, "Amazon Simple Storage Service": 1.5}
BY_REGION = {"us-east-1": 9.0, "eu-west-1": 2.5}
STATE: dict = {}


@pytest.fixture(scope="module")
def estate(aws_endpoint):
    seeded = seed_estate()
    queue_costs(aws_endpoint, DAYS, BY_SERVICE, BY_REGION)
    return seeded


@pytest.fixture(scope="module")
def tenant(client, app):
    from tests.conftest import make_user

    return make_user(client, app, "user")


def wait(client, app):
    wait_for_discoveries(client, app)


def test_create_and_template(client, tenant, create_user, estate):
    assert client.post("/onboarding/create").status_code == 401
    created = client.post("/onboarding/create", headers=tenant.headers)
    assert created.status_code == 201
    body = created.json()
    assert body["status"] == "pending_setup" and body["created_at"].endswith("Z")
    assert isinstance(body["id"], str) and len(body["external_id"]) == 36
    STATE["request"] = body

    answer = client.get(f"/api/v1/onboarding/template/{body['id']}", headers=tenant.headers)
    assert answer.status_code == 200
    template = answer.json()["template"]
    assert answer.json()["external_id"] == body["external_id"]
    assert set(answer.json()["instructions"]) == {f"step_{n}" for n in range(1, 6)}
    role = template["Resources"]["AtriumAccessRole"]["Properties"]
    (trust,) = role["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"AWS": PRINCIPAL}
    assert trust["Condition"] == {"StringEquals": {"sts:ExternalId": body["external_id"]}}
    read_policy = role["Policies"][0]["PolicyDocument"]["Statement"][0]["Action"]
    assert "ce:GetCostAndUsage" in read_policy and "ec2:DescribeInstances" in read_policy
    assert not [a for a in read_policy if not any(v in a for v in ("Describe", "List", "Get"))]

    as_yaml = client.get(f"/onboarding/template/{body['id']}?format=yaml", headers=tenant.headers)
    assert as_yaml.headers["content-type"].startswith("text/yaml")
    assert yaml.safe_load(as_yaml.text) == template
    stranger = create_user()
    other = client.get(f"/onboarding/template/{body['id']}", headers=stranger.headers)
    assert other.status_code == 404


def test_verify_role_connects_and_discovery_finds_the_estate(client, app, run, tenant, estate):
    request_id = STATE["request"]["id"]
    verified = client.post(
        f"/onboarding/{request_id}/verify", json={"role_arn": ROLE_ARN}, headers=tenant.headers
    )
    assert verified.status_code == 200, verified.text
    body = verified.json()
    assert body["status"] == "connected" and body["aws_account_id"] == ACCOUNT
    assert body["role_arn"] == ROLE_ARN and body["discovery_status"] == "in_progress"
    wait(client, app)

    status = client.get(f"/onboarding/{request_id}/discovery", headers=tenant.headers).json()
    assert status["status"] == "completed", status
    assert status["progress"]["regions"] == {"eu-west-1": "done", "us-east-1": "done"} or set(
        status["progress"]["regions"]
    ) >= {"eu-west-1", "us-east-1"}
    assert status["scan_info"]["instances_discovered"] == 5
    assert status["resources"] == {
        "authorized_instances": 0,
        "unauthorized_instances": 5,
        "optimizable_instances": 3,
    }

    async def stored() -> dict:
        async with app.state.db.sessions() as session:
            rows = await session.execute(
                select(CloudResource.kind, CloudResource.resource_id, CloudResource.region)
            )
            found: dict = {}
            for kind, resource_id, region in rows:
                found.setdefault(kind, set()).add((resource_id, region))
            return found

    found = run(stored)
    expected_volumes = {
        (v["VolumeId"], region)
        for region in ("us-east-1", "eu-west-1")
        for v in aws("ec2", region).describe_volumes()["Volumes"]
    }
    assert found["volume"] == expected_volumes
    assert {estate["unattached"], estate["attached"], estate["unattached_eu"]} <= {
        v for v, _ in found["volume"]
    }
    assert {i for i, _ in found["instance"]} == {
        estate[k] for k in ("busy", "idle", "fresh", "stopped", "idle_eu")
    }
    assert found["address"] == {
        (estate["used_address"], "us-east-1"),
        (estate["free_address"], "us-east-1"),
    }
    assert found["snapshot"] == {
        (estate["orphan_snapshot"], "us-east-1"),
        (estate["kept_snapshot"], "us-east-1"),
    }
    assert found["bucket"] == {("atrium-logs", "us-east-1"), ("atrium-eu", "eu-west-1")}
    assert {name.split("/")[-1] for name, _ in found["eks_cluster"]} == {"prod"}


def test_waste_finds_exactly_the_planted_waste(client, tenant, estate):
    findings = client.get("/api/v1/cloud/waste", headers=tenant.headers)
    assert findings.status_code == 200
    got = {(f["rule"], f["resource_id"]): f for f in findings.json()}
    assert set(got) == {
        ("idle_instance", estate["idle"]),
        ("idle_instance", estate["idle_eu"]),
        ("stopped_instance", estate["stopped"]),
        ("unattached_volume", estate["unattached"]),
        ("unattached_volume", estate["unattached_eu"]),
        ("unassociated_address", estate["free_address"]),
        ("orphaned_snapshot", estate["orphan_snapshot"]),
    }
    idle = got[("idle_instance", estate["idle"])]
    assert idle["estimated_monthly_savings"] == pytest.approx(0.096 * 730)
    assert idle["evidence"]["average_cpu_percent"] == 2.0 and idle["evidence"]["days_of_data"] >= 7
    assert got[("unattached_volume", estate["unattached"])]["estimated_monthly_savings"] == 8.0
    assert got[("unattached_volume", estate["unattached_eu"])][
        "estimated_monthly_savings"
    ] == pytest.approx(5.5)
    assert got[("unassociated_address", estate["free_address"])][
        "estimated_monthly_savings"
    ] == pytest.approx(3.65)
    STATE["findings"] = {key: f["id"] for key, f in got.items()}
    STATE["unattached"] = estate["unattached"]

    same = client.get(
        "/api/v1/waste?rule=unattached_volume&region=eu-west-1", headers=tenant.headers
    )
    assert [f["resource_id"] for f in same.json()] == [estate["unattached_eu"]]
    summary = client.get("/api/v1/cloud/waste/summary", headers=tenant.headers).json()
    assert summary["open"] == 7 and summary["by_rule"]["idle_instance"]["count"] == 2

    dashboard = client.get("/client/dashboard", headers=tenant.headers).json()
    fresh = next(i for i in dashboard["instances"] if i["instance_id"] == estate["fresh"])
    assert fresh["idle_check"] == {
        "verdict": "insufficient_data",
        "days_of_data": 0,
        "days_needed": 7,
    }
    assert dashboard["status"] == "active" and dashboard["has_account"] is True
    assert dashboard["setup_required"] is False
    assert dashboard["stats"]["nodes"] == 5 and dashboard["stats"]["clusters"] == 1
    assert (
        dashboard["clusters"][0]["name"] == "prod" and dashboard["clusters"][0]["node_count"] == 2
    )
    assert dashboard["stats"]["savings"] == summary["estimated_monthly_savings"]


def test_costs_match_the_seeded_figures(client, tenant):
    costs = client.get("/api/v1/cloud/costs", headers=tenant.headers).json()
    assert costs["available"] is True
    assert costs["totals"] == {k: pytest.approx(v * 20) for k, v in BY_SERVICE.items()}
    assert len(costs["periods"]) == 20 and costs["periods"][0]["total"] == pytest.approx(11.5)
    regions = client.get("/api/v1/cloud/costs?group_by=region", headers=tenant.headers).json()
    assert regions["totals"] == {k: pytest.approx(v * 20) for k, v in BY_REGION.items()}
    forecast = client.get("/api/v1/cloud/costs/forecast", headers=tenant.headers).json()
    days = (
        datetime.fromisoformat(forecast["period"]["end"])
        - datetime.fromisoformat(forecast["period"]["start"])
    ).days + 1
    assert forecast["available"] is True
    assert forecast["amount"] == pytest.approx(11.5 * days)
    assert forecast["lower"] <= forecast["amount"] <= forecast["upper"]
    storage = client.get("/api/v1/cloud/storage", headers=tenant.headers).json()
    logs = next(b for b in storage["buckets"] if b["resource_id"] == "atrium-logs")
    # moto publishes the S3 storage metrics that discovery prefers over listing
    assert logs["object_count"] == 3 and logs["size_source"] == "cloudwatch"
    volume = next(v for v in storage["volumes"] if v["resource_id"] == STATE["unattached"])
    assert volume["monthly_cost"] == 8.0 and volume["size_gb"] == 100
    assert storage["prices"]["as_of"] and storage["prices"]["source"].startswith("AWS")


def test_a_second_tenant_gets_409_for_the_same_aws_account(client, create_user, estate):
    key, secret = iam_keys("second-tenant", None)
    other = create_user()
    answer = client.post(
        "/api/v1/onboarding/connect/credentials",
        json={"access_key_id": key, "secret_access_key": secret, "region": "us-east-1"},
        headers=other.headers,
    )
    assert answer.status_code == 409
    assert answer.json()["code"] == "aws_account_taken"
    assert client.get("/client/accounts", headers=other.headers).json() == []


def _account_id(client, tenant) -> str:
    return client.get("/client/accounts", headers=tenant.headers).json()[0]["id"]


def test_accounts_list_and_summary(client, tenant):
    (account,) = client.get("/api/v1/client/accounts", headers=tenant.headers).json()
    assert account["account_id"] == ACCOUNT and account["connection_method"] == "iam_role"
    assert account["status"] == "active" and account["created_at"].endswith("Z")
    summary = client.get("/client/summary", headers=tenant.headers).json()
    assert summary == {
        "has_account": True,
        "instance_count": 5,
        "status": "ok",
        "account_status": "active",
        "account_name": None,
    }


def test_other_tenants_see_nothing_analysts_read_viewers_are_refused(client, tenant, create_user):
    account_id = _account_id(client, tenant)
    finding_id = STATE["findings"][("unattached_volume", STATE["unattached"])]
    other = create_user()
    assert client.get("/api/v1/cloud/waste", headers=other.headers).json() == []
    assert (
        client.get(f"/onboarding/{account_id}/discovery", headers=other.headers).status_code == 404
    )
    assert client.delete(f"/client/accounts/{account_id}", headers=other.headers).status_code == 404
    dismissed = client.post(
        f"/api/v1/cloud/waste/{finding_id}/dismiss", json={"reason": "x"}, headers=other.headers
    )
    assert dismissed.status_code == 404
    assert (
        client.get(
            f"/api/v1/cloud/costs?account_id={account_id}", headers=other.headers
        ).status_code
        == 404
    )
    dashboard = client.get("/client/dashboard", headers=other.headers).json()
    assert dashboard["status"] == "no_account" and dashboard["setup_required"] is True
    analyst = create_user("analyst")
    seen = client.get(f"/api/v1/cloud/waste?account_id={account_id}", headers=analyst.headers)
    assert len(seen.json()) == 7
    refused = client.post(
        f"/api/v1/cloud/waste/{finding_id}/dismiss", json={"reason": "x"}, headers=analyst.headers
    )
    assert refused.status_code == 403
    viewer = create_user("viewer")
    assert client.get("/client/dashboard", headers=viewer.headers).status_code == 403
    assert client.get("/api/v1/cloud/admin/overview", headers=analyst.headers).status_code == 403


def test_rediscover_refuses_while_running_and_dismissal_survives(client, app, run, tenant):
    account_id = _account_id(client, tenant)
    finding_id = STATE["findings"][("unattached_volume", STATE["unattached"])]
    dismissed = client.post(
        f"/api/v1/waste/{finding_id}/dismiss",
        json={"reason": "kept for the DR drill"},
        headers=tenant.headers,
    )
    assert dismissed.status_code == 200 and dismissed.json()["status"] == "dismissed"

    async def set_status(value: str) -> None:
        async with app.state.db.sessions() as session:
            account = await session.get(CloudAccount, int(account_id))
            account.discovery_status = value
            await session.commit()

    run(set_status, "in_progress")
    busy = client.post(f"/onboarding/{account_id}/rediscover", headers=tenant.headers)
    assert busy.status_code == 409 and busy.json()["code"] == "discovery_running"
    run(set_status, "completed")
    triggered = client.post(f"/api/v1/onboarding/{account_id}/rediscover", headers=tenant.headers)
    assert triggered.status_code == 202
    assert (
        triggered.json()["status"] == "triggered" and triggered.json()["account_id"] == account_id
    )
    wait(client, app)
    still = client.get("/api/v1/cloud/waste?status=dismissed", headers=tenant.headers).json()
    assert [(f["id"], f["dismissed_reason"]) for f in still] == [
        (finding_id, "kept for the DR drill")
    ]
    open_ids = {f["id"] for f in client.get("/api/v1/cloud/waste", headers=tenant.headers).json()}
    assert finding_id not in open_ids and len(open_ids) == 6


def _state(region: str, instance_id: str) -> str:
    reservations = aws("ec2", region).describe_instances(InstanceIds=[instance_id])
    return reservations["Reservations"][0]["Instances"][0]["State"]["Name"]


def test_remediation_needs_approval_rejected_then_approved(client, tenant, create_user, estate):
    finding_id = STATE["findings"][("idle_instance", estate["idle"])]
    wrong = client.post(
        "/api/v1/cloud/remediations",
        json={"finding_id": finding_id, "action": "delete-volume"},
        headers=tenant.headers,
    )
    assert wrong.status_code == 400 and wrong.json()["code"] == "remediation_not_applicable"
    asked = client.post(
        "/api/v1/cloud/remediations",
        json={"finding_id": finding_id, "action": "stop-instance"},
        headers=tenant.headers,
    )
    assert asked.status_code == 201
    request = asked.json()
    assert request["status"] == "pending_approval" and request["approver_role"] == "admin"
    own = client.post(f"/api/v1/cloud/approvals/{request['id']}/approve", headers=tenant.headers)
    assert own.status_code == 403
    admin = create_user("admin")
    pending = client.get("/api/v1/cloud/approvals", headers=admin.headers).json()
    assert request["id"] in [p["id"] for p in pending]
    rejected = client.post(
        f"/api/v1/cloud/approvals/{request['id']}/reject",
        json={"comment": "batch job runs monthly"},
        headers=admin.headers,
    )
    assert rejected.status_code == 200 and rejected.json()["status"] == "rejected"
    assert _state("us-east-1", estate["idle"]) == "running"
    again = client.post(f"/api/v1/cloud/approvals/{request['id']}/approve", headers=admin.headers)
    assert again.status_code == 409

    second = client.post(
        "/api/v1/cloud/remediations",
        json={"findingId": finding_id, "action": "stop-instance"},
        headers=tenant.headers,
    ).json()
    approved = client.post(f"/api/v1/cloud/approvals/{second['id']}/approve", headers=admin.headers)
    assert approved.status_code == 200, approved.text
    assert approved.json()["status"] == "completed"
    assert _state("us-east-1", estate["idle"]) in ("stopping", "stopped")
    findings = client.get("/api/v1/cloud/waste?status=remediated", headers=tenant.headers).json()
    assert [f["id"] for f in findings] == [finding_id]


def test_a_policy_without_approval_runs_at_once(client, tenant, estate):
    policy = client.post(
        "/api/v1/governance/policies",
        json={"name": "free addresses", "action": "release-address", "requires_approval": False},
        headers=tenant.headers,
    )
    assert policy.status_code == 201
    listed = client.get("/api/v1/cloud/governance/policies", headers=tenant.headers).json()
    assert [p["id"] for p in listed] == [policy.json()["id"]]
    finding_id = STATE["findings"][("unassociated_address", estate["free_address"])]
    done = client.post(
        "/api/v1/cloud/remediations",
        json={"finding_id": finding_id, "action": "release-address"},
        headers=tenant.headers,
    )
    assert done.status_code == 201 and done.json()["status"] == "completed"
    left = aws("ec2").describe_addresses()["Addresses"]
    assert estate["free_address"] not in [a["AllocationId"] for a in left]
    changed = client.patch(
        f"/api/v1/governance/policies/{policy.json()['id']}",
        json={"requires_approval": True, "approver_role": "moderator"},
        headers=tenant.headers,
    )
    assert changed.json()["approver_role"] == "moderator"


def test_aws_unreachable_mid_discovery_keeps_the_previous_inventory(
    client, app, run, tenant, monkeypatch
):
    account_id = _account_id(client, tenant)
    before = client.get("/client/dashboard", headers=tenant.headers).json()
    findings_before = client.get("/api/v1/cloud/waste?status=all", headers=tenant.headers).json()
    # EC2 answers; CloudWatch, asked next in each region, is unreachable
    monkeypatch.setenv("AWS_ENDPOINT_URL_CLOUDWATCH", "http://127.0.0.1:9")
    assert (
        client.post(f"/onboarding/{account_id}/rediscover", headers=tenant.headers).status_code
        == 202
    )
    wait(client, app)
    status = client.get(f"/onboarding/{account_id}/discovery", headers=tenant.headers).json()
    assert status["status"] == "failed"
    assert "cloudwatch" in status["error"] and "Could not connect" in status["error"]
    after = client.get("/client/dashboard", headers=tenant.headers).json()
    assert after["resources_by_type"] == before["resources_by_type"]
    assert (
        client.get("/api/v1/cloud/waste?status=all", headers=tenant.headers).json()
        == findings_before
    )
    summary = client.get("/client/summary", headers=tenant.headers).json()
    assert summary["status"] == "error" and "cloudwatch" in summary["error"]


def test_admin_overview(client, create_user):
    admin = create_user("admin")
    overview = client.get("/api/v1/cloud/admin/overview", headers=admin.headers).json()
    assert overview["tenants"] == 1 and overview["accounts"]["total"] == 1
    assert overview["resources"]["instance"] == 5


def test_delete_removes_everything_then_another_tenant_may_connect(
    client, app, run, tenant, create_user
):
    account_id = _account_id(client, tenant)
    deleted = client.delete(f"/client/accounts/{account_id}", headers=tenant.headers)
    assert deleted.status_code == 200
    assert deleted.json() == {
        "success": True,
        "message": f"Account {ACCOUNT} disconnected and its data removed",
        "account_id": ACCOUNT,
    }

    async def left() -> list[int]:
        async with app.state.db.sessions() as session:
            return [
                await session.scalar(select(func.count()).select_from(table))
                for table in (
                    CloudAccount,
                    CloudResource,
                    CloudCost,
                    WasteFinding,
                    DiscoveryRun,
                    Remediation,
                )
            ]

    assert run(left) == [0, 0, 0, 0, 0, 0]
    assert client.get("/client/accounts", headers=tenant.headers).json() == []
    key, secret = iam_keys("next-tenant", None)
    newcomer = create_user()
    connected = client.post(
        "/onboarding/connect/credentials",
        json={"access_key": key, "secret_key": secret, "regions": ["us-east-1"]},
        headers=newcomer.headers,
    )
    assert connected.status_code == 200, connected.text
    assert connected.json()["connection_method"] == "access_keys"
    wait(client, app)

    async def stored_secret() -> bytes:
        async with app.state.db.sessions() as session:
            return await session.scalar(select(CloudAccount.secret_encrypted))

    assert secret.encode() not in run(stored_secret)
    account_id = connected.json()["account_id"]
    status = client.get(f"/onboarding/{account_id}/discovery", headers=newcomer.headers).json()
    assert status["status"] == "completed" and set(status["progress"]["regions"]) == {"us-east-1"}
