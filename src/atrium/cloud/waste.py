"""Waste rules: small pure functions over the discovered inventory. Each returns a finding
(a dict), None, or for the idle rule an "insufficient data" verdict; never a guess."""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from statistics import fmean
from typing import Any

from atrium.cloud import prices
from atrium.config import Settings

RULES = (
    "idle_instance",
    "unattached_volume",
    "unassociated_address",
    "orphaned_snapshot",
    "stopped_instance",
)
Resource = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Thresholds:
    idle_cpu_percent: float = 5.0
    idle_min_days: int = 7
    snapshot_max_age_days: int = 90
    stopped_max_days: int = 30

    @classmethod
    def from_settings(cls, settings: Settings) -> "Thresholds":
        return cls(
            idle_cpu_percent=settings.cloud_idle_cpu_percent,
            idle_min_days=settings.cloud_idle_min_days,
            snapshot_max_age_days=settings.cloud_snapshot_max_age_days,
            stopped_max_days=settings.cloud_stopped_max_days,
        )


def _finding(resource: Resource, rule: str, evidence: dict, savings: float | None) -> dict:
    return {
        "resource_id": resource["resource_id"],
        "resource_type": resource["kind"],
        "region": resource["region"],
        "rule": rule,
        "evidence": evidence,
        "estimated_monthly_savings": savings,
    }


def _age_days(stamp: str | None, now: datetime) -> float | None:
    if not stamp:
        return None
    return (now - datetime.fromisoformat(stamp.replace("Z", "+00:00"))).total_seconds() / 86400


def idle_instance(resource: Resource, limits: Thresholds) -> dict | None:
    """Running with average CPU at or below the limit over at least `idle_min_days` days.
    Fewer days of data is the verdict `insufficient_data` (rule None)."""
    if resource["kind"] != "instance" or resource["state"] != "running":
        return None
    days = resource["attributes"].get("cpu_daily") or []
    if len(days) < limits.idle_min_days:
        return {
            "rule": None,
            "resource_id": resource["resource_id"],
            "region": resource["region"],
            "verdict": "insufficient_data",
            "days_of_data": len(days),
            "days_needed": limits.idle_min_days,
        }
    average = fmean(days)
    if average > limits.idle_cpu_percent:
        return None
    attributes = resource["attributes"]
    evidence = {
        "average_cpu_percent": round(average, 2),
        "max_daily_cpu_percent": round(max(days), 2),
        "days_of_data": len(days),
        "threshold_percent": limits.idle_cpu_percent,
        "instance_type": attributes.get("instance_type"),
    }
    savings = prices.instance_monthly(resource["region"], attributes.get("instance_type"))
    return _finding(resource, "idle_instance", evidence, savings)


def unattached_volume(resource: Resource) -> dict | None:
    if resource["kind"] != "volume" or resource["state"] != "available":
        return None
    attributes = resource["attributes"]
    evidence = {
        "state": "available",
        "size_gb": resource["size_gb"],
        "volume_type": attributes.get("volume_type"),
    }
    savings = prices.volume_monthly(
        resource["region"], attributes.get("volume_type"), resource["size_gb"]
    )
    return _finding(resource, "unattached_volume", evidence, savings)


def unassociated_address(resource: Resource) -> dict | None:
    if resource["kind"] != "address" or resource["attributes"].get("association_id"):
        return None
    evidence = {"public_ip": resource["attributes"].get("public_ip"), "associated": False}
    return _finding(resource, "unassociated_address", evidence, prices.address_monthly())


def orphaned_snapshot(
    resource: Resource, volume_ids: set[str], limits: Thresholds, now: datetime
) -> dict | None:
    if resource["kind"] != "snapshot":
        return None
    volume_id = resource["attributes"].get("volume_id")
    age = _age_days(resource["attributes"].get("started_at"), now)
    if age is None or age < limits.snapshot_max_age_days or volume_id in volume_ids:
        return None
    evidence = {
        "age_days": round(age, 1),
        "threshold_days": limits.snapshot_max_age_days,
        "volume_id": volume_id,
        "volume_exists": False,
        "size_gb": resource["size_gb"],
    }
    savings = prices.snapshot_monthly(resource["region"], resource["size_gb"])
    return _finding(resource, "orphaned_snapshot", evidence, savings)


def stopped_instance(
    resource: Resource, volumes: dict[str, Resource], limits: Thresholds, now: datetime
) -> dict | None:
    """Stopped longer than the limit: its volumes still cost money."""
    if resource["kind"] != "instance" or resource["state"] != "stopped":
        return None
    stopped = _age_days(resource["attributes"].get("stopped_since"), now)
    if stopped is None or stopped < limits.stopped_max_days:
        return None
    attached = [volumes[v] for v in resource["attributes"].get("volume_ids", []) if v in volumes]
    costs = [
        prices.volume_monthly(v["region"], v["attributes"].get("volume_type"), v["size_gb"])
        for v in attached
    ]
    evidence = {
        "stopped_days": round(stopped, 1),
        "threshold_days": limits.stopped_max_days,
        "attached_volumes": [v["resource_id"] for v in attached],
    }
    savings = None if None in costs else round(sum(c for c in costs if c is not None), 4)
    return _finding(resource, "stopped_instance", evidence, savings)


def analyse(
    resources: Iterable[Resource], limits: Thresholds, now: datetime
) -> tuple[list[dict], list[dict]]:
    """(findings, verdicts of insufficient data) for one account's inventory."""
    resources = list(resources)
    volumes = {r["resource_id"]: r for r in resources if r["kind"] == "volume"}
    findings, undetermined = [], []
    for resource in resources:
        for result in (
            idle_instance(resource, limits),
            unattached_volume(resource),
            unassociated_address(resource),
            orphaned_snapshot(resource, set(volumes), limits, now),
            stopped_instance(resource, volumes, limits, now),
        ):
            if result is None:
                continue
            (undetermined if result["rule"] is None else findings).append(result)
    return findings, undetermined
