"""Costs from the stored Cost Explorer rows: per day or month, by service or region, and a
next-month forecast from the daily history (linear trend, residual interval)."""

from datetime import date, timedelta
from statistics import fmean
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from atrium.cloud.tables import CloudCost

FORECAST_MIN_DAYS = 14
Z_90 = 1.645


def bucket_of(day: str, granularity: str) -> str:
    return day[:7] if granularity == "monthly" else day


async def series(
    session: AsyncSession,
    account_ids: list[int],
    *,
    granularity: str,
    group_by: str,
    start: date | None,
    end: date | None,
) -> dict[str, Any]:
    query = select(CloudCost.day, CloudCost.key, func.sum(CloudCost.amount)).where(
        CloudCost.account_id.in_(account_ids), CloudCost.dimension == group_by
    )
    if start is not None:
        query = query.where(CloudCost.day >= start.isoformat())
    if end is not None:
        query = query.where(CloudCost.day < end.isoformat())
    rows = await session.execute(query.group_by(CloudCost.day, CloudCost.key))
    periods: dict[str, dict[str, float]] = {}
    totals: dict[str, float] = {}
    for day, key, amount in rows:
        period = periods.setdefault(bucket_of(day, granularity), {})
        period[key] = period.get(key, 0.0) + amount
        totals[key] = totals.get(key, 0.0) + amount
    if not periods:
        return {"available": False, "reason": "no_cost_data", "periods": [], "totals": {}}
    return {
        "available": True,
        "granularity": granularity,
        "group_by": group_by,
        "currency": "USD",
        "periods": [
            {
                "period": name,
                "total": round(sum(groups.values()), 4),
                "groups": {key: round(value, 4) for key, value in sorted(groups.items())},
            }
            for name, groups in sorted(periods.items())
        ],
        "totals": {key: round(value, 4) for key, value in sorted(totals.items())},
        "total": round(sum(totals.values()), 4),
    }


def forecast_days(daily: list[tuple[date, float]], horizon: list[date]) -> dict[str, Any]:
    """Least-squares trend over the daily totals; a 90 % interval from the residuals."""
    if len(daily) < FORECAST_MIN_DAYS:
        return {
            "available": False,
            "reason": "insufficient_data",
            "days_of_data": len(daily),
            "days_needed": FORECAST_MIN_DAYS,
        }
    origin = daily[0][0]
    xs = [(day - origin).days for day, _ in daily]
    ys = [amount for _, amount in daily]
    mean_x, mean_y = fmean(xs), fmean(ys)
    spread = sum((x - mean_x) ** 2 for x in xs) or 1.0
    slope = sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True)) / spread
    intercept = mean_y - slope * mean_x
    residuals = [y - (intercept + slope * x) for x, y in zip(xs, ys, strict=True)]
    sigma = (sum(r * r for r in residuals) / max(1, len(residuals) - 2)) ** 0.5
    points = [max(0.0, intercept + slope * (day - origin).days) for day in horizon]
    total = sum(points)
    # days' errors assumed independent: the month's deviation grows with sqrt(days)
    margin = Z_90 * sigma * len(horizon) ** 0.5
    return {
        "available": True,
        "amount": round(total, 2),
        "lower": round(max(0.0, total - margin), 2),
        "upper": round(total + margin, 2),
        "confidence": 0.9,
        "daily_trend": round(slope, 4),
        "days_of_data": len(daily),
        "method": "linear trend over daily totals, 90 % interval from residuals",
    }


def next_month(today: date) -> list[date]:
    first = (today.replace(day=1) + timedelta(days=32)).replace(day=1)
    following = (first + timedelta(days=32)).replace(day=1)
    return [first + timedelta(days=n) for n in range((following - first).days)]


async def forecast(session: AsyncSession, account_ids: list[int], today: date) -> dict[str, Any]:
    rows = await session.execute(
        select(CloudCost.day, func.sum(CloudCost.amount))
        .where(CloudCost.account_id.in_(account_ids), CloudCost.dimension == "service")
        .group_by(CloudCost.day)
        .order_by(CloudCost.day)
    )
    daily = [(date.fromisoformat(day), amount) for day, amount in rows]
    horizon = next_month(today)
    answer = forecast_days(daily, horizon)
    answer.update(
        period={"start": horizon[0].isoformat(), "end": horizon[-1].isoformat()},
        currency="USD",
    )
    return answer
