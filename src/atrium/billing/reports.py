"""Revenue reports in neutral form: integer cents per currency, rates as fractions (0..1),
`None` where a figure cannot be computed. The Ops Center surface shapes them."""

import math
from collections import defaultdict
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from atrium.billing import analytics as a
from atrium.billing.periods import calendar_month, period_start
from atrium.db import utcnow

Z_80 = 1.2816  # two-sided 80 % normal quantile
MIN_FORECAST_MONTHS = 3
WINDOW = timedelta(days=30)


def _month_starts(now: datetime, count: int) -> list[datetime]:
    """The first instants of the last `count` calendar months, oldest first (this one last)."""
    this = calendar_month(now)[0]
    return [period_start(this, "monthly", -i) for i in range(count - 1, -1, -1)]


async def overview(session: AsyncSession, currency: str, now: datetime | None = None) -> dict:
    now = now or utcnow()
    info = await a.plans(session)
    current = a.per_currency(await a.active_counts(session, now), info)
    before = a.per_currency(await a.active_counts(session, now - WINDOW), info)
    churned = a.per_currency(await a.terminated_counts(session, now - WINDOW, now), info)
    customers = await a.active_customers(session, now)

    def figures(code: str) -> dict[str, Any]:
        mrr = a.monthly(current[code]["annual"]) if code in current else 0
        previous = a.monthly(before[code]["annual"]) if code in before else 0
        lost = churned[code]["subscriptions"] if code in churned else 0
        base = before[code]["subscriptions"] if code in before else 0
        count = customers.get(code, 0)
        return {
            "currency": code,
            "mrr_cents": mrr,
            "arr_cents": 12 * mrr,
            "active_subscriptions": current[code]["subscriptions"] if code in current else 0,
            "total_customers": count,
            "arpu_cents": a.div_round(mrr, count) if count else 0,
            "growth_rate": a.rate(mrr - previous, previous),
            "churn_rate": a.rate(lost, base) if base or lost else 0.0,
        }

    others = sorted((set(current) | set(before)) - {currency})
    return {**figures(currency), "by_currency": {c: figures(c) for c in others}, "timestamp": now}


async def by_plan(session: AsyncSession, currency: str, now: datetime | None = None) -> dict:
    now = now or utcnow()
    info = await a.plans(session)
    counts = await a.active_counts(session, now)
    customers = await a.active_customers(session, now, a.Plan.id)
    rows = []
    for plan_id, count in counts.items():
        plan = info[plan_id]
        if plan.currency != currency:
            continue
        rows.append(
            {
                "plan_id": plan_id,
                "plan_code": plan.code,
                "plan_name": plan.name,
                "tier": plan.tier,
                "subscriptions": count,
                "customers": customers.get((currency, plan_id), 0),
                "annual": plan.annual * count,
            }
        )
    return _shares(currency, rows)


def _shares(currency: str, rows: list[dict]) -> dict:
    total = sum(row["annual"] for row in rows)
    for row in rows:
        row["mrr_cents"] = a.monthly(row.pop("annual")) if "annual" in row else row["mrr_cents"]
        row["share"] = a.rate(row["mrr_cents"], a.monthly(total)) or 0.0
    rows.sort(key=lambda row: (-row["mrr_cents"], str(row.get("plan_code") or row.get("tier"))))
    return {"currency": currency, "total_mrr_cents": a.monthly(total), "items": rows}


async def by_tier(session: AsyncSession, currency: str, now: datetime | None = None) -> dict:
    now = now or utcnow()
    info = await a.plans(session)
    customers = await a.active_customers(session, now, a.Plan.tier)
    grouped: dict[str | None, dict[str, int]] = defaultdict(lambda: {"annual": 0, "subs": 0})
    for plan_id, count in (await a.active_counts(session, now)).items():
        plan = info[plan_id]
        if plan.currency == currency:
            grouped[plan.tier]["annual"] += plan.annual * count
            grouped[plan.tier]["subs"] += count
    rows = [
        {
            "tier": tier,
            "subscriptions": v["subs"],
            "customers": customers.get((currency, tier), 0),
            "annual": v["annual"],
        }
        for tier, v in grouped.items()
    ]
    report = _shares(currency, rows)
    for row in report["items"]:
        row["arpu_cents"] = (
            a.div_round(row["mrr_cents"], row["customers"]) if row["customers"] else 0
        )
    return report


async def by_customer(
    session: AsyncSession, currency: str, *, limit: int, offset: int, now: datetime | None = None
) -> dict:
    now = now or utcnow()
    info = await a.plans(session)
    total = a.per_currency(await a.active_counts(session, now), info).get(currency, {})
    total_mrr = a.monthly(total.get("annual", 0))
    rows = await a.top_customers(session, currency, now, limit, offset)
    for row in rows:
        row["mrr_cents"] = a.monthly(row.pop("annual"))
        row["share"] = a.rate(row["mrr_cents"], total_mrr) or 0.0
    customers = (await a.active_customers(session, now)).get(currency, 0)
    return {
        "currency": currency,
        "total_mrr_cents": total_mrr,
        "total_customers": customers,
        "limit": limit,
        "offset": offset,
        "items": rows,
    }


async def churn(session: AsyncSession, currency: str, start: datetime, end: datetime) -> dict:
    info = await a.plans(session)
    at_start = a.per_currency(await a.active_counts(session, start), info).get(currency, {})
    lost = a.per_currency(await a.terminated_counts(session, start, end), info).get(currency, {})
    moved = (await a.movements(session, currency, [start, end]))[0]
    customers_start = (await a.active_customers(session, start)).get(currency, 0)
    subs_start, subs_lost = at_start.get("subscriptions", 0), lost.get("subscriptions", 0)
    mrr_start, mrr_lost = a.monthly(at_start.get("annual", 0)), a.monthly(lost.get("annual", 0))
    return {
        "currency": currency,
        "start": start,
        "end": end,
        "subscriptions_at_start": subs_start,
        "churned_subscriptions": subs_lost,
        "subscription_churn_rate": a.rate(subs_lost, subs_start),
        "customers_at_start": customers_start,
        "churned_customers": moved["customers_churned"],
        "logo_churn_rate": a.rate(moved["customers_churned"], customers_start),
        "mrr_at_start_cents": mrr_start,
        "churned_mrr_cents": mrr_lost,
        "revenue_churn_rate": a.rate(mrr_lost, mrr_start),
    }


async def lifetime_value(session: AsyncSession, currency: str, now: datetime | None = None) -> dict:
    """LTV = ARPU / monthly logo churn (customers lost over the last 30 days)."""
    now = now or utcnow()
    view = await overview(session, currency, now)
    moved = (await a.movements(session, currency, [now - WINDOW, now]))[0]
    # customers then = customers now - those who arrived + those who left
    customers_start = view["total_customers"] - moved["customers_new"] + moved["customers_churned"]
    monthly_churn = a.rate(moved["customers_churned"], customers_start)
    info = await a.plans(session)
    per_plan = {
        info[plan_id].code: (a.monthly(info[plan_id].annual), count)
        for plan_id, count in (await a.active_counts(session, now)).items()
        if info[plan_id].currency == currency
    }
    base = {
        "currency": currency,
        "arpu_cents": view["arpu_cents"],
        "monthly_churn_rate": monthly_churn,
    }
    if not monthly_churn:
        reason = (
            "no customer churned in the last 30 days, so lifetime is unbounded"
            if customers_start
            else "no customers 30 days ago to measure churn"
        )
        return {**base, "available": False, "reason": reason}
    return {
        **base,
        "available": True,
        "lifetime_months": 1 / monthly_churn,
        "ltv_cents": round(view["arpu_cents"] / monthly_churn),
        "by_plan": {code: round(mrr / monthly_churn) for code, (mrr, _) in per_plan.items()},
    }


async def metrics(session: AsyncSession, currency: str, start: datetime, end: datetime) -> dict:
    moved = (await a.movements(session, currency, [start, end]))[0]
    info = await a.plans(session)
    moved["start"] = await a.annual_at(session, info, currency, start)
    moved["end"] = await a.annual_at(session, info, currency, end)
    days = await a.invoiced_by_day(
        session, currency, start.date(), (end - timedelta(days=1)).date()
    )
    invoiced = sum(day["invoiced"] for day in days.values())
    collected = sum(day["collected"] for day in days.values())
    start_mrr = a.monthly(moved["start"])
    retained = moved["start"] + moved["expansion"] - moved["contraction"] - moved["churned"]
    return {
        "currency": currency,
        "start": start,
        "end": end,
        "starting_mrr_cents": start_mrr,
        "ending_mrr_cents": a.monthly(moved["end"]),
        "new_mrr_cents": a.monthly(moved["new"]),
        "expansion_mrr_cents": a.monthly(moved["expansion"]),
        "contraction_mrr_cents": a.monthly(moved["contraction"]),
        "churned_mrr_cents": a.monthly(moved["churned"]),
        "net_revenue_retention": a.rate(retained, moved["start"]),
        "gross_revenue_retention": a.rate(
            moved["start"] - moved["contraction"] - moved["churned"], moved["start"]
        ),
        "new_customers": moved["customers_new"],
        "churned_customers": moved["customers_churned"],
        "invoices": sum(day["invoices"] for day in days.values()),
        "invoiced_cents": invoiced,
        "collected_cents": collected,
        "outstanding_cents": invoiced - collected,
        "collection_rate": a.rate(collected, invoiced),
    }


async def trends(
    session: AsyncSession, currency: str, first: date, last: date, interval: str
) -> dict:
    spans = a.buckets(first, last, interval)
    info = await a.plans(session)
    mrr = (await a.mrr_at_days(session, info, [b for _, b in spans])).get(
        currency, [0] * len(spans)
    )
    days = await a.invoiced_by_day(session, currency, first, last)
    customers = await a.invoiced_customers(
        session, currency, interval, [a.bucket_start(b, interval) for b, _ in spans]
    )
    points = []
    for (begin, finish), annual, count in zip(spans, mrr, customers, strict=True):
        inside = [v for d, v in days.items() if begin <= d <= finish]
        points.append(
            {
                "date": begin,
                "end": finish,
                "revenue_cents": sum(v["invoiced"] for v in inside),
                "collected_cents": sum(v["collected"] for v in inside),
                "invoices": sum(v["invoices"] for v in inside),
                "customers": count,
                "mrr_cents": a.monthly(annual),
            }
        )
    total = sum(p["revenue_cents"] for p in points)
    return {
        "currency": currency,
        "interval": interval,
        "start": first,
        "end": last,
        "points": points,
        "total_revenue_cents": total,
        "average_revenue_cents": a.div_round(total, len(points)) if points else 0,
    }


async def growth(
    session: AsyncSession,
    currency: str,
    first: date,
    last: date,
    interval: str,
    now: datetime | None = None,
) -> dict:
    now = now or utcnow()
    spans = a.buckets(first, last, interval)
    info = await a.plans(session)
    anchors = [now - timedelta(days=d) for d in (0, 30, 91, 365)]
    at = [
        a.per_currency(await a.active_counts(session, m), info).get(currency, {}) for m in anchors
    ]
    mrr_at = [a.monthly(x.get("annual", 0)) for x in at]
    series = (await a.mrr_at_days(session, info, [b for _, b in spans])).get(
        currency, [0] * len(spans)
    )
    points, previous = [], None
    for (begin, _), annual in zip(spans, series, strict=True):
        value = a.monthly(annual)
        change = None if previous is None else value - previous
        points.append(
            {
                "date": begin,
                "mrr_cents": value,
                "change_cents": change,
                "growth_rate": None if previous is None else a.rate(change, previous),
            }
        )
        previous = value
    return {
        "currency": currency,
        "interval": interval,
        "start": first,
        "end": last,
        "points": points,
        "current_mrr_cents": mrr_at[0],
        "previous_month_mrr_cents": mrr_at[1],
        "mom_growth": a.rate(mrr_at[0] - mrr_at[1], mrr_at[1]),
        "qoq_growth": a.rate(mrr_at[0] - mrr_at[2], mrr_at[2]),
        "yoy_growth": a.rate(mrr_at[0] - mrr_at[3], mrr_at[3]),
    }


async def mrr_history(
    session: AsyncSession, currency: str, months: int, now: datetime | None = None
) -> list[dict]:
    """MRR at the end of each of the last `months` months (this one: now), with the
    month's customer-level movements."""
    now = now or utcnow()
    starts = _month_starts(now, months)
    # past months' movements are stored (refreshed by every write that touches them);
    # a month ends where its last day ends in the daily roll-up, so the figures add up
    past = await a.stored_movements(session, currency, [start.date() for start in starts[:-1]])
    live = await a.movements(session, currency, [a.month_bounds(starts[-1].date())[0], now])
    empty = dict.fromkeys(("new", "expansion", "contraction", "churned"), 0)
    moves = [past.get(start.date(), empty) for start in starts[:-1]] + live
    info = await a.plans(session)
    last_days = [(start - timedelta(days=1)).date() for start in starts[1:]]
    series = (await a.mrr_at_days(session, info, last_days)).get(currency, [0] * len(last_days))
    ends = [*series, await a.annual_at(session, info, currency, now)]
    return [
        {
            "month": start.strftime("%Y-%m"),
            "mrr_cents": a.monthly(end),
            "new_mrr_cents": a.monthly(m["new"]),
            "expansion_mrr_cents": a.monthly(m["expansion"]),
            "contraction_mrr_cents": a.monthly(m["contraction"]),
            "churned_mrr_cents": a.monthly(m["churned"]),
        }
        for start, m, end in zip(starts, moves, ends, strict=True)
    ]


async def forecast(
    session: AsyncSession, currency: str, months_ahead: int, now: datetime | None = None
) -> dict:
    """Linear trend of month-end MRR (last 24 months) with an 80 % prediction interval."""
    now = now or utcnow()
    info = await a.plans(session)
    ends = [*[s.date() - timedelta(days=1) for s in _month_starts(now, 24)][1:], now.date()]
    series = (await a.mrr_at_days(session, info, ends)).get(currency, [0] * len(ends))
    while series and series[0] == 0:
        series, ends = series[1:], ends[1:]
    n = len(series)
    if n < MIN_FORECAST_MONTHS:
        return {
            "currency": currency,
            "available": False,
            "reason": f"a forecast needs at least {MIN_FORECAST_MONTHS} months of MRR "
            f"history; there are {n}",
        }
    values = [a.monthly(v) for v in series]
    t_mean = (n - 1) / 2
    y_mean = sum(values) / n
    sxx = sum((t - t_mean) ** 2 for t in range(n))
    slope = sum((t - t_mean) * (y - y_mean) for t, y in enumerate(values)) / sxx
    intercept = y_mean - slope * t_mean
    residuals = [y - (intercept + slope * t) for t, y in enumerate(values)]
    sigma = math.sqrt(sum(r * r for r in residuals) / (n - 2)) if n > 2 else 0.0
    total = sum((y - y_mean) ** 2 for y in values)
    this_month = calendar_month(now)[0]
    points = []
    for step in range(1, months_ahead + 1):
        t = n - 1 + step
        value = intercept + slope * t
        spread = Z_80 * sigma * math.sqrt(1 + 1 / n + (t - t_mean) ** 2 / sxx)
        points.append(
            {
                "month": period_start(this_month, "monthly", step).strftime("%Y-%m"),
                "mrr_cents": max(round(value), 0),
                "lower_cents": max(round(value - spread), 0),
                "upper_cents": max(round(value + spread), 0),
            }
        )
    return {
        "currency": currency,
        "available": True,
        "method": "linear_trend",
        "confidence": 0.8,
        "history": [
            {"month": d.strftime("%Y-%m"), "mrr_cents": v}
            for d, v in zip(ends, values, strict=True)
        ],
        "forecast": points,
        "r_squared": 1 - sum(r * r for r in residuals) / total if total else 1.0,
    }


async def cohort_revenue(
    session: AsyncSession, currency: str, months: int, now: datetime | None = None
) -> list[dict]:
    now = now or utcnow()
    since = _month_starts(now, months)[0]
    rows = await a.cohorts(session, currency, since, now)
    for row in rows:
        row["retention_rate"] = a.rate(row["retained"], row["customers"]) or 0.0
        row["average_invoiced_cents"] = a.div_round(row["invoiced"], row["customers"])
    return rows


async def arr(session: AsyncSession, currency: str, now: datetime | None = None) -> dict:
    """ARR (12 x MRR), per tier, and its growth over a year."""
    now = now or utcnow()
    info = await a.plans(session)
    counts = await a.active_counts(session, now)
    tiers: dict[str | None, int] = defaultdict(int)
    for plan_id, count in counts.items():
        if info[plan_id].currency == currency:
            tiers[info[plan_id].tier] += info[plan_id].annual * count
    mrr = a.monthly(sum(tiers.values()))
    year_ago = a.monthly(await a.annual_at(session, info, currency, now - timedelta(days=365)))
    return {
        "currency": currency,
        "arr_cents": 12 * mrr,
        "by_tier_cents": {tier: 12 * a.monthly(annual) for tier, annual in tiers.items()},
        "yoy_growth": a.rate(mrr - year_ago, year_ago),
    }
