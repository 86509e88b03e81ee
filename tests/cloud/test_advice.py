"""Savings advice through the gateway's default model (a fake OpenAI-protocol upstream), with
the account's real findings from a moto estate; 503 while no provider exists."""

import json

import pytest
from sqlalchemy import select

from atrium.usage.tables import UsageRecord
from tests.cloud.conftest import aws, iam_keys, wait_for_discoveries
from tests.gateway.helpers import add_provider
from tests.gateway.upstreams import OpenAIUpstream, serve_app


@pytest.fixture(scope="module")
def upstream():
    fake = OpenAIUpstream()
    with serve_app(fake.app) as base:
        yield fake, base


@pytest.fixture(scope="module")
def connected(client, app, aws_endpoint):
    from tests.conftest import make_user

    volume = aws("ec2").create_volume(AvailabilityZone="us-east-1a", Size=10, VolumeType="gp2")
    key, secret = iam_keys("advice-tenant", None)
    owner = make_user(client, app, "user")
    answer = client.post(
        "/onboarding/connect/credentials",
        json={"access_key": key, "secret_key": secret, "regions": ["us-east-1"]},
        headers=owner.headers,
    )
    assert answer.status_code == 200, answer.text
    wait_for_discoveries(client, app)
    return owner, answer.json()["account_id"], volume["VolumeId"]


def test_advice_without_a_provider_is_503(client, connected):
    owner, account_id, _ = connected
    answer = client.post(f"/api/v1/cloud/accounts/{account_id}/advice", headers=owner.headers)
    assert answer.status_code == 503 and answer.json()["code"] == "no_provider_configured"
    assert "/api/v1/llm/providers" in answer.json()["detail"]


def test_advice_from_the_findings_is_metered(client, app, run, connected, upstream, create_user):
    owner, account_id, volume_id = connected
    fake, base = upstream
    add_provider(client, create_user("admin").headers, base, name="advisor", type="openai")
    fake.reply_text = "Delete the unattached volume first."
    answer = client.post(f"/api/v1/cloud/accounts/{account_id}/advice", headers=owner.headers)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["advice"] == "Delete the unattached volume first."
    assert body["findings_considered"] == 1 and body["estimated_monthly_savings"] == 1.0
    sent = json.loads(fake.last.json["messages"][1]["content"])
    assert [f["resource"] for f in sent] == [volume_id]

    async def metered() -> list[str]:
        await app.state.gateway.flush_usage()
        async with app.state.db.sessions() as session:
            rows = await session.scalars(
                select(UsageRecord.origin).where(UsageRecord.user_id == owner.id)
            )
            return list(rows)

    assert run(metered) == ["cloud"]
    stranger = create_user()
    refused = client.post(f"/api/v1/cloud/accounts/{account_id}/advice", headers=stranger.headers)
    assert refused.status_code == 404
