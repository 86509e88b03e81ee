"""boto3 access, blocking by nature: every function here runs in a worker thread.

Credentials and the endpoint come from boto3's own variables (`AWS_ENDPOINT_URL` included) for
Atrium's own principal, or from the account's stored keys or assumed role."""

from dataclasses import dataclass
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

BOTO_CONFIG = Config(
    connect_timeout=5, read_timeout=60, retries={"max_attempts": 3, "mode": "standard"}
)
SESSION_NAME = "atrium-discovery"


@dataclass(frozen=True, slots=True)
class AwsCredentials:
    access_key_id: str
    secret_access_key: str
    session_token: str | None = None


class AwsCallFailed(Exception):
    """An AWS step failed: which step, AWS's error code (or ours) and its message."""

    def __init__(self, step: str, error_code: str, message: str) -> None:
        self.step = step
        self.error_code = error_code
        self.message = message
        super().__init__(f"{step} failed: {message}")


def failure(step: str, exc: Exception) -> AwsCallFailed:
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        return AwsCallFailed(
            step, error.get("Code") or "ClientError", error.get("Message") or str(exc)
        )
    if isinstance(exc, NoCredentialsError):
        return AwsCallFailed(step, "NoCredentials", "Atrium has no AWS credentials of its own")
    if isinstance(exc, BotoCoreError):
        return AwsCallFailed(step, type(exc).__name__, str(exc))
    return AwsCallFailed(step, type(exc).__name__, str(exc))


def session_for(credentials: AwsCredentials | None, region: str = "us-east-1") -> boto3.Session:
    """A fresh session per thread (boto3 sessions are not thread-safe; clients are)."""
    if credentials is None:
        return boto3.session.Session(region_name=region)
    return boto3.session.Session(
        aws_access_key_id=credentials.access_key_id,
        aws_secret_access_key=credentials.secret_access_key,
        aws_session_token=credentials.session_token,
        region_name=region,
    )


def client(credentials: AwsCredentials | None, service: str, region: str = "us-east-1") -> Any:
    return session_for(credentials, region).client(service, region_name=region, config=BOTO_CONFIG)


def assume_role(role_arn: str, external_id: str) -> AwsCredentials:
    """AssumeRole as Atrium's own principal, with the account's External ID."""
    try:
        answer = client(None, "sts").assume_role(
            RoleArn=role_arn, RoleSessionName=SESSION_NAME, ExternalId=external_id
        )
    except Exception as exc:
        raise failure("assume_role", exc) from exc
    granted = answer["Credentials"]
    return AwsCredentials(
        granted["AccessKeyId"], granted["SecretAccessKey"], granted.get("SessionToken")
    )


def caller_identity(credentials: AwsCredentials) -> dict[str, str]:
    try:
        answer = client(credentials, "sts").get_caller_identity()
    except Exception as exc:
        raise failure("get_caller_identity", exc) from exc
    return {"account": answer["Account"], "arn": answer["Arn"]}


def enabled_regions(credentials: AwsCredentials, home: str) -> list[str]:
    try:
        regions = client(credentials, "ec2", home).describe_regions()["Regions"]
    except Exception as exc:
        raise failure("describe_regions", exc) from exc
    return sorted(region["RegionName"] for region in regions)


def validate_regions(credentials: AwsCredentials, home: str, wanted: list[str]) -> list[str]:
    """The unknown ones among `wanted` (checked against DescribeRegions)."""
    known = set(enabled_regions(credentials, home))
    return [region for region in wanted if region not in known]


def remediate(credentials: AwsCredentials, action: str, region: str, resource_id: str) -> None:
    """Carry out one approved remediation; raises AwsCallFailed with AWS's reason."""
    ec2 = client(credentials, "ec2", region)
    try:
        if action == "stop-instance":
            ec2.stop_instances(InstanceIds=[resource_id])
        elif action == "delete-volume":
            ec2.delete_volume(VolumeId=resource_id)
        elif action == "release-address":
            ec2.release_address(AllocationId=resource_id)
        elif action == "delete-snapshot":
            ec2.delete_snapshot(SnapshotId=resource_id)
        else:
            raise ValueError(f"unknown action {action}")
    except Exception as exc:
        raise failure(action, exc) from exc
