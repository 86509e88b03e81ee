"""The shipped price table (region x type; its source and date are in prices.json). A price
the table does not hold is None: savings are then reported unknown, never guessed."""

import json
from functools import cache
from pathlib import Path
from typing import Any


@cache
def table() -> dict[str, Any]:
    return json.loads((Path(__file__).parent / "prices.json").read_text())


def provenance() -> dict[str, str]:
    """Where the figures come from, when, and how they were taken (shown with every price)."""
    data = table()
    return {
        "source": data["source"],
        "as_of": data["as_of"],
        "method": data["method"],
        "currency": data["currency"],
    }


def _month(hourly: float | None) -> float | None:
    return None if hourly is None else round(hourly * table()["hours_per_month"], 4)


def instance_monthly(region: str, instance_type: str | None) -> float | None:
    return _month(table()["ec2_hourly"].get(region, {}).get(instance_type or ""))


def volume_monthly(region: str, volume_type: str | None, size_gb: float | None) -> float | None:
    price = table()["ebs_gb_month"].get(region, {}).get(volume_type or "")
    return None if price is None or size_gb is None else round(price * size_gb, 4)


def snapshot_monthly(region: str, size_gb: float | None) -> float | None:
    price = table()["snapshot_gb_month"].get(region)
    return None if price is None or size_gb is None else round(price * size_gb, 4)


def bucket_monthly(region: str, size_gb: float | None) -> float | None:
    price = table()["s3_standard_gb_month"].get(region)
    return None if price is None or size_gb is None else round(price * size_gb, 4)


def address_monthly() -> float:
    return _month(table()["public_ipv4_hourly"]) or 0.0
