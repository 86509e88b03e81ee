"""A real moto server on a loopback port (AWS_ENDPOINT_URL points boto3 at it) and a seeded
AWS estate: two regions, busy and idle instances with CloudWatch history, one without,
attached and unattached volumes, addresses, snapshots, buckets, an EKS cluster and queued
Cost Explorer results."""

import os
import socket
from datetime import UTC, datetime, timedelta

import boto3
import httpx
import pytest
from moto.server import ThreadedMotoServer

ACCOUNT = "123456789012"
PRINCIPAL = f"arn:aws:iam::{ACCOUNT}:user/atrium"
ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/AtriumAccessRole"
REGIONS = ["eu-west-1", "us-east-1"]
ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "MOTO_EC2_LOAD_DEFAULT_AMIS": "false",
}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def aws_endpoint():
    previous = {name: os.environ.get(name) for name in [*ENV, "AWS_ENDPOINT_URL"]}
    os.environ.update(ENV)
    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    os.environ["AWS_ENDPOINT_URL"] = endpoint
    httpx.post(f"{endpoint}/moto-api/reset", timeout=10)
    yield endpoint
    httpx.post(f"{endpoint}/moto-api/reset-auth", content=b"inf", timeout=10)
    server.stop()
    for name, value in previous.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


@pytest.fixture(scope="module")
def settings_overrides(aws_endpoint):
    # moto stamps snapshots and stops with the current time: the age limits are 0 here, and
    # the rules' own thresholds are tested as pure functions
    return {
        "aws_principal_arn": PRINCIPAL,
        "cloud_snapshot_max_age_days": 0,
        "cloud_stopped_max_days": 0,
        "jobs_poll_seconds": 0.05,
    }


def wait_for_discoveries(client, app) -> None:
    """Until no discovery run is in progress (each runs as a job on the engine)."""
    import time

    from sqlalchemy import func, select

    from atrium.cloud.tables import DiscoveryRun

    async def running() -> int:
        async with app.state.db.sessions() as session:
            return await session.scalar(
                select(func.count(DiscoveryRun.id)).where(DiscoveryRun.status == "in_progress")
            )

    async def jobs() -> list:
        from atrium.jobs.tables import Job

        async with app.state.db.sessions() as session:
            rows = await session.execute(select(Job.kind, Job.status, Job.error, Job.stage))
            return list(rows)

    deadline = time.monotonic() + 300
    while client.portal.call(running):
        assert time.monotonic() < deadline, (
            f"a discovery is still running: {client.portal.call(jobs)}"
        )
        time.sleep(0.05)


def aws(service: str, region: str = "us-east-1", **credentials):
    return boto3.client(service, region_name=region, **credentials)


def _cpu(region: str, instance_id: str, value: float, days: int) -> None:
    now = datetime.now(UTC)
    aws("cloudwatch", region).put_metric_data(
        Namespace="AWS/EC2",
        MetricData=[
            {
                "MetricName": "CPUUtilization",
                "Dimensions": [{"Name": "InstanceId", "Value": instance_id}],
                "Timestamp": now - timedelta(days=day, hours=2),
                "Value": value,
            }
            for day in range(days)
        ],
    )


def _instance(region: str, instance_type: str, name: str) -> str:
    answer = aws("ec2", region).run_instances(
        ImageId="ami-12345678",
        MinCount=1,
        MaxCount=1,
        InstanceType=instance_type,
        TagSpecifications=[{"ResourceType": "instance", "Tags": [{"Key": "Name", "Value": name}]}],
    )
    return answer["Instances"][0]["InstanceId"]


def _zone(region: str) -> str:
    return f"{region}a"


def seed_estate() -> dict:
    """Everything the tests expect discovery and the waste rules to find."""
    east = aws("ec2", "us-east-1")
    west = aws("ec2", "eu-west-1")
    seeded: dict = {}
    seeded["busy"] = _instance("us-east-1", "t3.micro", "busy")
    seeded["idle"] = _instance("us-east-1", "m5.large", "idle")
    seeded["fresh"] = _instance("us-east-1", "t3.small", "fresh")
    seeded["stopped"] = _instance("us-east-1", "t3.medium", "stopped")
    seeded["idle_eu"] = _instance("eu-west-1", "t3.medium", "idle-eu")
    east.stop_instances(InstanceIds=[seeded["stopped"]])
    _cpu("us-east-1", seeded["busy"], 60.0, 10)
    _cpu("us-east-1", seeded["idle"], 2.0, 10)
    _cpu("eu-west-1", seeded["idle_eu"], 1.0, 10)
    seeded["unattached"] = east.create_volume(
        AvailabilityZone=_zone("us-east-1"), Size=100, VolumeType="gp3"
    )["VolumeId"]
    seeded["unattached_eu"] = west.create_volume(
        AvailabilityZone=_zone("eu-west-1"), Size=50, VolumeType="gp2"
    )["VolumeId"]
    attached = east.create_volume(AvailabilityZone=_zone("us-east-1"), Size=20, VolumeType="gp3")
    east.attach_volume(VolumeId=attached["VolumeId"], InstanceId=seeded["busy"], Device="/dev/sdf")
    seeded["attached"] = attached["VolumeId"]
    gone = east.create_volume(AvailabilityZone=_zone("us-east-1"), Size=8, VolumeType="gp2")
    seeded["orphan_snapshot"] = east.create_snapshot(VolumeId=gone["VolumeId"])["SnapshotId"]
    east.delete_volume(VolumeId=gone["VolumeId"])
    seeded["kept_snapshot"] = east.create_snapshot(VolumeId=attached["VolumeId"])["SnapshotId"]
    used = east.allocate_address(Domain="vpc")
    east.associate_address(AllocationId=used["AllocationId"], InstanceId=seeded["busy"])
    seeded["used_address"] = used["AllocationId"]
    seeded["free_address"] = east.allocate_address(Domain="vpc")["AllocationId"]
    s3 = aws("s3")
    s3.create_bucket(Bucket="atrium-logs")
    for n in range(3):
        s3.put_object(Bucket="atrium-logs", Key=f"log-{n}", Body=b"x" * 1000)
    aws("s3", "eu-west-1").create_bucket(
        Bucket="atrium-eu", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}
    )
    aws("s3", "eu-west-1").put_object(Bucket="atrium-eu", Key="a", Body=b"y" * 2048)
    eks = aws("eks")
    eks.create_cluster(
        name="prod",
        roleArn=f"arn:aws:iam::{ACCOUNT}:role/eks",
        resourcesVpcConfig={"subnetIds": ["subnet-1"]},
    )
    eks.create_nodegroup(
        clusterName="prod",
        nodegroupName="workers",
        nodeRole=f"arn:aws:iam::{ACCOUNT}:role/node",
        subnets=["subnet-1"],
        scalingConfig={"minSize": 1, "maxSize": 3, "desiredSize": 2},
        instanceTypes=["m5.large"],
    )
    return seeded


def queue_costs(endpoint: str, days: list[str], by_service: dict, by_region: dict) -> None:
    """Two Cost Explorer answers, taken in order: per service, then per region."""

    def answer(groups: dict) -> dict:
        return {
            "ResultsByTime": [
                {
                    "TimePeriod": {"Start": day, "End": day},
                    "Total": {},
                    "Groups": [
                        {
                            "Keys": [key],
                            "Metrics": {"UnblendedCost": {"Amount": str(amount), "Unit": "USD"}},
                        }
                        for key, amount in groups.items()
                    ],
                    "Estimated": False,
                }
                for day in days
            ]
        }

    response = httpx.post(
        f"{endpoint}/moto-api/static/ce/cost-and-usage-results",
        json={"results": [answer(by_service), answer(by_region)]},
        timeout=10,
    )
    assert response.status_code == 201


def iam_keys(user: str, policy_actions: list[str] | None) -> tuple[str, str]:
    iam = aws("iam")
    iam.create_user(UserName=user)
    if policy_actions:
        import json

        iam.put_user_policy(
            UserName=user,
            PolicyName="p",
            PolicyDocument=json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [{"Effect": "Allow", "Action": policy_actions, "Resource": "*"}],
                }
            ),
        )
    key = iam.create_access_key(UserName=user)["AccessKey"]
    return key["AccessKeyId"], key["SecretAccessKey"]


def enforce_iam(endpoint: str, on: bool) -> None:
    httpx.post(f"{endpoint}/moto-api/reset-auth", content=b"0" if on else b"inf", timeout=10)
