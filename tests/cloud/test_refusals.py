"""What AWS refuses becomes a clear 4xx with CONTRACTS' failure body, and nothing is
connected: wrong keys, a role Atrium's principal may not assume, unknown regions, malformed
input. Refusals come from moto's IAM enforcement with users and keys made in moto."""

import pytest

from tests.cloud.conftest import ROLE_ARN, enforce_iam, iam_keys


@pytest.fixture
def iam(aws_endpoint):
    enforce_iam(aws_endpoint, True)
    yield
    enforce_iam(aws_endpoint, False)


def _assert_failed(answer, error_code: str, step: str) -> None:
    assert answer.status_code == 400, answer.text
    body = answer.json()
    assert body["status"] == "failed" and body["error_code"] == error_code
    assert body["code"] == "aws_verification_failed" and body["request_id"]
    assert step in body["error"] and body["detail"] == body["error"]


def test_wrong_keys_are_refused_and_nothing_is_connected(client, create_user, iam):
    user = create_user()
    answer = client.post(
        "/onboarding/connect/credentials",
        json={"access_key": "AKIAWRONGWRONGWRONG1", "secret_key": "nope", "region": "us-east-1"},
        headers=user.headers,
    )
    _assert_failed(answer, "InvalidClientTokenId", "get_caller_identity")
    assert client.get("/client/accounts", headers=user.headers).json() == []


def test_a_role_the_principal_may_not_assume(client, create_user, monkeypatch, aws_endpoint):
    # Atrium runs as an IAM user that may read but not call sts:AssumeRole
    key, secret = iam_keys("atrium-without-assume", ["ec2:Describe*"])
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secret)
    enforce_iam(aws_endpoint, True)
    try:
        user = create_user()
        request = client.post("/onboarding/create", headers=user.headers).json()
        answer = client.post(
            f"/onboarding/{request['id']}/verify",
            json={"role_arn": ROLE_ARN},
            headers=user.headers,
        )
    finally:
        enforce_iam(aws_endpoint, False)
    _assert_failed(answer, "AccessDenied", "assume_role")
    (account,) = client.get("/client/accounts", headers=user.headers).json()
    assert account["status"] == "pending_setup" and account["account_id"] is None


def test_keys_without_rights_are_refused_by_name(client, create_user, aws_endpoint):
    key, secret = iam_keys("no-rights", ["sts:GetCallerIdentity"])
    enforce_iam(aws_endpoint, True)
    try:
        user = create_user()
        answer = client.post(
            "/onboarding/connect/credentials",
            json={"access_key": key, "secret_key": secret},
            headers=user.headers,
        )
    finally:
        enforce_iam(aws_endpoint, False)
    _assert_failed(answer, "AccessDenied", "describe_regions")


def test_unknown_region_and_malformed_input(client, create_user, aws_endpoint):
    key, secret = iam_keys("region-checker", None)
    user = create_user()
    unknown = client.post(
        "/onboarding/connect/credentials",
        json={
            "access_key": key,
            "secret_key": secret,
            "region": "us-east-1",
            "regions": ["xx-north-9"],
        },
        headers=user.headers,
    )
    assert unknown.status_code == 400 and unknown.json()["code"] == "unknown_region"
    assert "xx-north-9" in unknown.json()["detail"]
    malformed = client.post(
        "/onboarding/connect/credentials",
        json={"access_key": key, "secret_key": secret, "region": "not a region"},
        headers=user.headers,
    )
    assert malformed.status_code == 422 and "region" in malformed.json()["detail"]
    request = client.post("/onboarding/create", headers=user.headers).json()
    bad_arn = client.post(
        f"/onboarding/{request['id']}/verify",
        json={"role_arn": "arn:aws:s3:::x"},
        headers=user.headers,
    )
    assert bad_arn.status_code == 422 and "role_arn" in bad_arn.json()["detail"]
    missing = client.post(
        "/onboarding/999999/verify", json={"role_arn": ROLE_ARN}, headers=user.headers
    )
    assert missing.status_code == 404
    assert missing.json()["detail"] == "Account not found or does not belong to you"
    assert client.post("/onboarding/abc/verify", json={}, headers=user.headers).status_code == 422
    assert client.get("/client/accounts").status_code == 401


def test_template_without_a_configured_principal_is_503(client, app, create_user, monkeypatch):
    user = create_user()
    request = client.post("/onboarding/create", headers=user.headers).json()
    monkeypatch.setattr(app.state.settings, "aws_principal_arn", None)
    answer = client.get(f"/onboarding/template/{request['id']}", headers=user.headers)
    assert answer.status_code == 503 and "ATRIUM_AWS_PRINCIPAL_ARN" in answer.json()["detail"]
