"""The waste rules, the cost window and the forecast as pure functions: thresholds at their
edges, and no guess where data is missing."""

from datetime import UTC, date, datetime, timedelta

import pytest

from atrium.cloud import costs, waste
from atrium.cloud.collect import _cost_rows, cost_window, stopped_since

NOW = datetime(2026, 6, 30, 12, tzinfo=UTC)
LIMITS = waste.Thresholds()


def instance(state="running", cpu=None, instance_type="m5.large", **attributes):
    return {
        "kind": "instance",
        "resource_id": "i-1",
        "region": "us-east-1",
        "state": state,
        "size_gb": None,
        "attributes": {"instance_type": instance_type, "cpu_daily": cpu, **attributes},
    }


def ago(days: float) -> str:
    return (NOW - timedelta(days=days)).isoformat().replace("+00:00", "Z")


def test_idle_instance_threshold_and_minimum_days():
    assert waste.idle_instance(instance(cpu=[5.0] * 7), LIMITS)["rule"] == "idle_instance"
    assert waste.idle_instance(instance(cpu=[5.1] * 14), LIMITS) is None
    verdict = waste.idle_instance(instance(cpu=[0.5] * 6), LIMITS)
    assert verdict["rule"] is None and verdict["verdict"] == "insufficient_data"
    assert verdict["days_of_data"] == 6 and verdict["days_needed"] == 7
    assert waste.idle_instance(instance(cpu=None), LIMITS)["verdict"] == "insufficient_data"
    assert waste.idle_instance(instance(state="stopped", cpu=[0.0] * 14), LIMITS) is None
    unpriced = waste.idle_instance(instance(cpu=[1.0] * 7, instance_type="x9.odd"), LIMITS)
    assert unpriced["estimated_monthly_savings"] is None
    stricter = waste.Thresholds(idle_cpu_percent=1.0, idle_min_days=3)
    assert waste.idle_instance(instance(cpu=[2.0] * 3), stricter) is None


def test_snapshot_age_and_volume_presence():
    snap = {
        "kind": "snapshot",
        "resource_id": "snap-1",
        "region": "eu-west-1",
        "state": "completed",
        "size_gb": 10.0,
        "attributes": {"volume_id": "vol-1", "started_at": ago(91)},
    }
    found = waste.orphaned_snapshot(snap, set(), LIMITS, NOW)
    assert found["estimated_monthly_savings"] == pytest.approx(0.5)
    assert waste.orphaned_snapshot(snap, {"vol-1"}, LIMITS, NOW) is None
    young = {**snap, "attributes": {**snap["attributes"], "started_at": ago(89)}}
    assert waste.orphaned_snapshot(young, set(), LIMITS, NOW) is None


def test_stopped_instance_counts_its_volumes():
    volume = {
        "kind": "volume",
        "resource_id": "vol-9",
        "region": "us-east-1",
        "state": "in-use",
        "size_gb": 50.0,
        "attributes": {"volume_type": "gp2"},
    }
    old = instance(state="stopped", stopped_since=ago(31), volume_ids=["vol-9"])
    found = waste.stopped_instance(old, {"vol-9": volume}, LIMITS, NOW)
    assert found["estimated_monthly_savings"] == pytest.approx(5.0)
    recent = instance(state="stopped", stopped_since=ago(29), volume_ids=["vol-9"])
    assert waste.stopped_instance(recent, {"vol-9": volume}, LIMITS, NOW) is None
    unknown = instance(state="stopped", stopped_since=None)
    assert waste.stopped_instance(unknown, {}, LIMITS, NOW) is None


def test_analyse_keeps_findings_and_verdicts_apart():
    resources = [
        instance(cpu=[1.0] * 10),
        {**instance(cpu=[]), "resource_id": "i-2"},
        {
            "kind": "volume",
            "resource_id": "vol-1",
            "region": "us-east-1",
            "state": "available",
            "size_gb": 10.0,
            "attributes": {"volume_type": "gp3"},
        },
        {
            "kind": "address",
            "resource_id": "eipalloc-1",
            "region": "us-east-1",
            "state": "associated",
            "size_gb": None,
            "attributes": {"association_id": "eipassoc-1"},
        },
    ]
    findings, verdicts = waste.analyse(resources, LIMITS, NOW)
    assert {(f["rule"], f["resource_id"]) for f in findings} == {
        ("idle_instance", "i-1"),
        ("unattached_volume", "vol-1"),
    }
    assert [v["resource_id"] for v in verdicts] == ["i-2"]


def test_stopped_since_reads_the_transition_reason():
    assert stopped_since("User initiated (2024-01-02 03:04:05 GMT)") == "2024-01-02T03:04:05Z"
    assert stopped_since("") is None


def test_cost_window_and_rows():
    assert cost_window(date(2026, 3, 1), 3) == ("2026-02-26", "2026-03-01")
    answer = {
        "ResultsByTime": [
            {
                "TimePeriod": {"Start": "2026-02-26", "End": "2026-02-27"},
                "Groups": [
                    {
                        "Keys": ["EC2"],
                        "Metrics": {"UnblendedCost": {"Amount": "1.25", "Unit": "USD"}},
                    }
                ],
            }
        ]
    }
    assert _cost_rows(answer, "service") == [
        {"dimension": "service", "key": "EC2", "day": "2026-02-26", "amount": 1.25, "unit": "USD"}
    ]


def test_forecast_needs_fourteen_days_and_follows_the_trend():
    days = [date(2026, 1, 1) + timedelta(days=n) for n in range(20)]
    short = costs.forecast_days([(d, 1.0) for d in days[:13]], costs.next_month(date(2026, 1, 20)))
    assert short == {
        "available": False,
        "reason": "insufficient_data",
        "days_of_data": 13,
        "days_needed": 14,
    }
    horizon = costs.next_month(date(2026, 1, 20))
    assert horizon[0] == date(2026, 2, 1) and len(horizon) == 28
    rising = costs.forecast_days([(d, 10.0 + n) for n, d in enumerate(days)], horizon)
    # day index 31..58 of a line 10 + x: sum = 28*10 + sum(31..58)
    assert rising["amount"] == pytest.approx(280 + sum(range(31, 59)))
    assert rising["lower"] == rising["upper"] == rising["amount"]  # a perfect line
    assert costs.bucket_of("2026-02-03", "monthly") == "2026-02"
