"""Blocking collectors, one AWS region or service at a time (run in worker threads). Each
returns plain resource dicts: kind, resource_id, region, state, size_gb, attributes."""

import re
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

from atrium.cloud.aws import AwsCredentials, client, failure

STOPPED_AT = re.compile(r"\((\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) (?:UTC|GMT)\)")
METRIC_BATCH = 500  # GetMetricData's limit on queries per call


def _iso(value: Any) -> str | None:
    if isinstance(value, datetime):
        value = value if value.tzinfo else value.replace(tzinfo=UTC)
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    return None if value is None else str(value)


def _tags(raw: list[dict[str, str]] | None) -> dict[str, str]:
    return {tag["Key"]: tag.get("Value", "") for tag in raw or []}


def _pages(call: Any, key: str, **kwargs: Any) -> Iterator[dict[str, Any]]:
    token_in, token_out = ("NextToken", "NextToken")
    while True:
        page = call(**kwargs)
        yield from page.get(key, [])
        token = page.get(token_out)
        if not token:
            return
        kwargs[token_in] = token


def stopped_since(reason: str | None) -> str | None:
    match = STOPPED_AT.search(reason or "")
    if not match:
        return None
    return match.group(1).replace(" ", "T") + "Z"


def instances(ec2: Any, region: str) -> list[dict[str, Any]]:
    found = []
    for reservation in _pages(ec2.describe_instances, "Reservations", MaxResults=200):
        for item in reservation.get("Instances", []):
            state = item.get("State", {}).get("Name")
            if state == "terminated":
                continue
            tags = _tags(item.get("Tags"))
            found.append(
                {
                    "kind": "instance",
                    "resource_id": item["InstanceId"],
                    "region": region,
                    "state": state,
                    "size_gb": None,
                    "attributes": {
                        "instance_type": item.get("InstanceType"),
                        "launch_time": _iso(item.get("LaunchTime")),
                        "name": tags.get("Name"),
                        "tags": tags,
                        "stopped_since": stopped_since(item.get("StateTransitionReason"))
                        if state == "stopped"
                        else None,
                        "volume_ids": [
                            mapping["Ebs"]["VolumeId"]
                            for mapping in item.get("BlockDeviceMappings", [])
                            if "Ebs" in mapping
                        ],
                    },
                }
            )
    return found


def volumes(ec2: Any, region: str) -> list[dict[str, Any]]:
    return [
        {
            "kind": "volume",
            "resource_id": item["VolumeId"],
            "region": region,
            "state": item.get("State"),
            "size_gb": float(item.get("Size") or 0),
            "attributes": {
                "volume_type": item.get("VolumeType"),
                "attached_to": [a["InstanceId"] for a in item.get("Attachments", [])],
                "created_at": _iso(item.get("CreateTime")),
                "snapshot_id": item.get("SnapshotId") or None,
                "tags": _tags(item.get("Tags")),
            },
        }
        for item in _pages(ec2.describe_volumes, "Volumes", MaxResults=500)
    ]


def addresses(ec2: Any, region: str) -> list[dict[str, Any]]:
    return [
        {
            "kind": "address",
            "resource_id": item.get("AllocationId") or item["PublicIp"],
            "region": region,
            "state": "associated" if item.get("AssociationId") else "unassociated",
            "size_gb": None,
            "attributes": {
                "public_ip": item.get("PublicIp"),
                "allocation_id": item.get("AllocationId"),
                "association_id": item.get("AssociationId"),
                "instance_id": item.get("InstanceId"),
                "tags": _tags(item.get("Tags")),
            },
        }
        for item in ec2.describe_addresses().get("Addresses", [])
    ]


def snapshots(ec2: Any, region: str) -> list[dict[str, Any]]:
    return [
        {
            "kind": "snapshot",
            "resource_id": item["SnapshotId"],
            "region": region,
            "state": item.get("State"),
            "size_gb": float(item.get("VolumeSize") or 0),
            "attributes": {
                "volume_id": item.get("VolumeId"),
                "started_at": _iso(item.get("StartTime")),
                "description": item.get("Description"),
                "tags": _tags(item.get("Tags")),
            },
        }
        for item in _pages(ec2.describe_snapshots, "Snapshots", OwnerIds=["self"], MaxResults=1000)
    ]


def cpu_daily(cloudwatch: Any, instance_ids: list[str], days: int) -> dict[str, list[float]]:
    """Daily average CPUUtilization per instance over the last `days` days."""
    end = datetime.now(UTC)
    start = end - timedelta(days=days)
    series: dict[str, list[float]] = {instance_id: [] for instance_id in instance_ids}
    for offset in range(0, len(instance_ids), METRIC_BATCH):
        batch = instance_ids[offset : offset + METRIC_BATCH]
        queries = [
            {
                "Id": f"cpu{index}",
                "MetricStat": {
                    "Metric": {
                        "Namespace": "AWS/EC2",
                        "MetricName": "CPUUtilization",
                        "Dimensions": [{"Name": "InstanceId", "Value": instance_id}],
                    },
                    "Period": 86400,
                    "Stat": "Average",
                },
                "ReturnData": True,
            }
            for index, instance_id in enumerate(batch)
        ]
        kwargs: dict[str, Any] = {"MetricDataQueries": queries, "StartTime": start, "EndTime": end}
        for result in _pages(cloudwatch.get_metric_data, "MetricDataResults", **kwargs):
            index = int(result["Id"].lower().removeprefix("cpu"))
            series[batch[index]].extend(round(float(v), 4) for v in result.get("Values", []))
    return series


def eks_clusters(eks: Any, region: str) -> list[dict[str, Any]]:
    found = []
    for name in _pages(eks.list_clusters, "clusters"):
        cluster = eks.describe_cluster(name=name)["cluster"]
        groups = []
        for group_name in _pages(eks.list_nodegroups, "nodegroups", clusterName=name):
            group = eks.describe_nodegroup(clusterName=name, nodegroupName=group_name)
            group = group["nodegroup"]
            scaling = group.get("scalingConfig", {})
            groups.append(
                {
                    "name": group_name,
                    "status": group.get("status"),
                    "instance_types": group.get("instanceTypes", []),
                    "desired_size": scaling.get("desiredSize", 0),
                    "min_size": scaling.get("minSize"),
                    "max_size": scaling.get("maxSize"),
                }
            )
        found.append(
            {
                "kind": "eks_cluster",
                "resource_id": cluster.get("arn") or name,
                "region": region,
                "state": cluster.get("status"),
                "size_gb": None,
                "attributes": {
                    "name": name,
                    "version": cluster.get("version"),
                    "node_groups": groups,
                    "node_count": sum(group["desired_size"] or 0 for group in groups),
                },
            }
        )
    return found


def region_inventory(
    credentials: AwsCredentials, region: str, metric_days: int
) -> tuple[list[dict[str, Any]], list[dict[str, str]]]:
    """Everything in one region, and the optional services that refused (recorded, not fatal).
    EC2 is required: any failure there fails the region."""
    errors: list[dict[str, str]] = []
    ec2 = client(credentials, "ec2", region)
    try:
        found = [
            *instances(ec2, region),
            *volumes(ec2, region),
            *addresses(ec2, region),
            *snapshots(ec2, region),
        ]
    except Exception as exc:
        raise failure(f"ec2 in {region}", exc) from exc
    running = [
        r["resource_id"] for r in found if r["kind"] == "instance" and r["state"] == "running"
    ]
    try:
        series = cpu_daily(client(credentials, "cloudwatch", region), running, metric_days)
    except ClientError as exc:
        errors.append(_refusal("cloudwatch", region, exc))
        series = {}
    except Exception as exc:
        raise failure(f"cloudwatch in {region}", exc) from exc
    for resource in found:
        if resource["resource_id"] in series:
            resource["attributes"]["cpu_daily"] = series[resource["resource_id"]]
    try:
        found.extend(eks_clusters(client(credentials, "eks", region), region))
    except ClientError as exc:
        errors.append(_refusal("eks", region, exc))
    except Exception as exc:
        raise failure(f"eks in {region}", exc) from exc
    return found, errors


def _refusal(service: str, region: str, exc: ClientError) -> dict[str, str]:
    error = exc.response.get("Error", {})
    return {
        "service": service,
        "region": region,
        "error_code": error.get("Code", "ClientError"),
        "error": error.get("Message", str(exc)),
    }


def _bucket_size(
    credentials: AwsCredentials, s3: Any, name: str, region: str, max_objects: int
) -> tuple[float | None, int | None, str]:
    """Size in bytes and object count: CloudWatch storage metrics, else a bounded listing."""
    cloudwatch = client(credentials, "cloudwatch", region)
    end = datetime.now(UTC)
    figures = {}
    for metric, storage in (
        ("BucketSizeBytes", "StandardStorage"),
        ("NumberOfObjects", "AllStorageTypes"),
    ):
        points = cloudwatch.get_metric_statistics(
            Namespace="AWS/S3",
            MetricName=metric,
            Dimensions=[
                {"Name": "BucketName", "Value": name},
                {"Name": "StorageType", "Value": storage},
            ],
            StartTime=end - timedelta(days=3),
            EndTime=end,
            Period=86400,
            Statistics=["Average"],
        ).get("Datapoints", [])
        if points:
            figures[metric] = max(points, key=lambda p: p["Timestamp"])["Average"]
    if len(figures) == 2:
        return float(figures["BucketSizeBytes"]), int(figures["NumberOfObjects"]), "cloudwatch"
    size, count = 0.0, 0
    for item in _pages_s3(s3, name):
        size += item.get("Size", 0)
        count += 1
        if count >= max_objects:
            return size, count, "listing_truncated"
    return size, count, "listing"


def _pages_s3(s3: Any, bucket: str) -> Iterator[dict[str, Any]]:
    kwargs: dict[str, Any] = {"Bucket": bucket}
    while True:
        page = s3.list_objects_v2(**kwargs)
        yield from page.get("Contents", [])
        if not page.get("IsTruncated"):
            return
        kwargs["ContinuationToken"] = page["NextContinuationToken"]


def buckets(credentials: AwsCredentials, home: str, max_objects: int) -> list[dict[str, Any]]:
    try:
        s3 = client(credentials, "s3", home)
        found = []
        for bucket in s3.list_buckets().get("Buckets", []):
            name = bucket["Name"]
            region = s3.get_bucket_location(Bucket=name).get("LocationConstraint") or "us-east-1"
            size, count, source = _bucket_size(credentials, s3, name, region, max_objects)
            found.append(
                {
                    "kind": "bucket",
                    "resource_id": name,
                    "region": region,
                    "state": None,
                    "size_gb": None if size is None else size / 1024**3,
                    "attributes": {
                        "size_bytes": size,
                        "object_count": count,
                        "size_source": source,
                        "created_at": _iso(bucket.get("CreationDate")),
                    },
                }
            )
        return found
    except Exception as exc:
        raise failure("s3", exc) from exc


def _cost_rows(answer: dict[str, Any], dimension: str) -> list[dict[str, Any]]:
    rows = []
    for period in answer.get("ResultsByTime", []):
        day = period["TimePeriod"]["Start"]
        for group in period.get("Groups", []):
            for metric in group.get("Metrics", {}).values():
                rows.append(
                    {
                        "dimension": dimension,
                        "key": (group.get("Keys") or ["(none)"])[0],
                        "day": day,
                        "amount": float(metric["Amount"]),
                        "unit": metric.get("Unit", "USD"),
                    }
                )
                break
    return rows


def cost_window(today: date, days: int) -> tuple[str, str]:
    """Cost Explorer's [start, end) window: the last `days` full days before today."""
    return (today - timedelta(days=days)).isoformat(), today.isoformat()


def costs(credentials: AwsCredentials, days: int) -> list[dict[str, Any]]:
    """Daily unblended cost per service and per region from Cost Explorer."""
    ce = client(credentials, "ce", "us-east-1")
    start, end = cost_window(datetime.now(UTC).date(), days)
    rows: list[dict[str, Any]] = []
    for dimension, key in (("service", "SERVICE"), ("region", "REGION")):
        kwargs: dict[str, Any] = {
            "TimePeriod": {"Start": start, "End": end},
            "Granularity": "DAILY",
            "Metrics": ["UnblendedCost"],
            "GroupBy": [{"Type": "DIMENSION", "Key": key}],
        }
        while True:
            answer = ce.get_cost_and_usage(**kwargs)
            rows.extend(_cost_rows(answer, dimension))
            token = answer.get("NextPageToken")
            if not token:
                break
            kwargs["NextPageToken"] = token
    return rows
