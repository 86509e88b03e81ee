"""Seed 002's revenue analytics at /api/v1/analytics/revenue: the seed's nine paths and the
original Ops Center pages' paths (`by-plan`, `churn-impact`, `ltv`, `cohorts/revenue`, `mrr`,
`arr`, `forecast`), shaped from the billing domain's neutral reports: money in currency units
(as the seed's `{"mrr": 4.0}`) beside the exact integer `*_cents`, rates in percent."""

from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request

from atrium.billing import reports
from atrium.billing.auth import RevenueRead
from atrium.billing.currency import checked_currency, to_units
from atrium.billing.reader import ReaderDep
from atrium.errors import Unprocessable

router = APIRouter(prefix="/api/v1/analytics/revenue", tags=["revenue analytics"])

CurrencyQuery = Annotated[
    str | None,
    Query(max_length=8, description="ISO 4217 code; default ATRIUM_BILLING_CURRENCY"),
]
Interval = Literal["day", "week", "month"]
Period = Literal["daily", "weekly", "monthly"]
PERIOD_INTERVAL = {"daily": "day", "weekly": "week", "monthly": "month"}
INTERVAL_PERIOD = {value: key for key, value in PERIOD_INTERVAL.items()}
MAX_DAYS = 3660
EARLIEST, LATEST = date(1900, 1, 1), date(9998, 12, 31)
JSON = dict[str, Any]


def _currency(request: Request, currency: CurrencyQuery = None) -> str:
    """The asked currency, else the instance's (ATRIUM_BILLING_CURRENCY)."""
    code = currency or request.app.state.settings.billing_currency
    try:
        return checked_currency(code)
    except ValueError as exc:
        raise Unprocessable(str(exc), field="currency") from None


def _pct(fraction: float | None) -> float | None:
    return None if fraction is None else round(fraction * 100, 4)


def _money(report: dict, code: str, *names: str) -> dict:
    """Adds `name` in currency units for each `name_cents`."""
    return {**report, **{n: to_units(report[f"{n}_cents"], code) for n in names}}


def _range(start: date | None, end: date | None, days: int | None) -> tuple[date, date]:
    last = end or datetime.now(UTC).date()
    first = start or last - timedelta(days=(days or 365) - 1)
    if first > last:
        raise Unprocessable("start must not be after end", field="start")
    if first < EARLIEST or last > LATEST:
        raise Unprocessable(f"dates lie between {EARLIEST} and {LATEST}", field="start")
    if (last - first).days >= MAX_DAYS:
        raise Unprocessable(f"a range covers at most {MAX_DAYS} days", field="start")
    return first, last


def _bounds(first: date, last: date) -> tuple[datetime, datetime]:
    """[start of first day, start of the day after last day)."""
    return (
        datetime.combine(first, time(), tzinfo=UTC),
        datetime.combine(last + timedelta(days=1), time(), tzinfo=UTC),
    )


StartQ = Annotated[date | None, Query(description="YYYY-MM-DD (default: a year before end)")]
EndQ = Annotated[date | None, Query(description="YYYY-MM-DD, included (default: today)")]
DaysQ = Annotated[int | None, Query(ge=1, le=MAX_DAYS, description="Days back, when no start")]


def _year_back(start: StartQ = None, end: EndQ = None, days: DaysQ = None) -> tuple[date, date]:
    return _range(start, end, days)


def _month_back(start: StartQ = None, end: EndQ = None, days: DaysQ = None) -> tuple[date, date]:
    return _range(start, end, days or 30)


Currency = Annotated[str, Depends(_currency)]
YearRange = Annotated[tuple[date, date], Depends(_year_back)]
MonthRange = Annotated[tuple[date, date], Depends(_month_back)]


def _figures(view: dict) -> dict:
    code = view["currency"]
    return {
        "currency": code,
        "mrr": to_units(view["mrr_cents"], code),
        "arr": to_units(view["arr_cents"], code),
        "active_subscriptions": view["active_subscriptions"],
        "total_customers": view["total_customers"],
        "average_revenue_per_user": to_units(view["arpu_cents"], code),
        "growth_rate": _pct(view["growth_rate"]),
        "churn_rate": _pct(view["churn_rate"]),
        "mrr_cents": view["mrr_cents"],
        "arr_cents": view["arr_cents"],
        "arpu_cents": view["arpu_cents"],
    }


@router.get("/overview", response_model=JSON)
async def revenue_overview(_: RevenueRead, session: ReaderDep, code: Currency) -> JSON:
    view = await reports.overview(session, code)
    others = {code: _figures(other) for code, other in view["by_currency"].items()}
    return {**_figures(view), "by_currency": others, "timestamp": view["timestamp"]}


@router.get("/trends", response_model=JSON)
async def revenue_trends(
    _: RevenueRead,
    session: ReaderDep,
    code: Currency,
    span: YearRange,
    interval: Interval | None = None,
    period: Annotated[Period | None, Query(description="The original page's name")] = None,
) -> JSON:
    first, last = span
    step = interval or PERIOD_INTERVAL.get(period or "", "month")
    report = await reports.trends(session, code, first, last, step)
    data = [
        {
            **point,
            "revenue": to_units(point["revenue_cents"], code),
            "collected": to_units(point["collected_cents"], code),
            "mrr": to_units(point["mrr_cents"], code),
        }
        for point in report["points"]
    ]
    return {
        "currency": code,
        "interval": step,
        "period": INTERVAL_PERIOD[step],
        "start": first,
        "end": last,
        "data": data,
        "total_revenue": to_units(report["total_revenue_cents"], code),
        "average_revenue": to_units(report["average_revenue_cents"], code),
        "total_revenue_cents": report["total_revenue_cents"],
    }


def _share_rows(report: dict, code: str) -> list[dict]:
    return [
        {**row, "mrr": to_units(row["mrr_cents"], code), "percentage": _pct(row["share"])}
        for row in report["items"]
    ]


@router.get("/by-tier", response_model=JSON)
async def revenue_by_tier(_: RevenueRead, session: ReaderDep, code: Currency) -> JSON:
    report = await reports.by_tier(session, code)
    rows = [
        {**row, "avg_revenue_per_user": to_units(row["arpu_cents"], code)}
        for row in _share_rows(report, code)
    ]
    return {
        "currency": code,
        "total_mrr": to_units(report["total_mrr_cents"], code),
        "total_mrr_cents": report["total_mrr_cents"],
        "tier_breakdown": rows,
    }


@router.get("/by-customer", response_model=JSON)
async def revenue_by_customer(
    _: RevenueRead,
    session: ReaderDep,
    code: Currency,
    limit: Annotated[int, Query(ge=1, le=1000)] = 20,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> JSON:
    report = await reports.by_customer(session, code, limit=limit, offset=offset)
    rows = [
        {
            **row,
            "mrr": to_units(row["mrr_cents"], code),
            "percentage": _pct(row["share"]),
            "invoiced": to_units(row["invoiced"], code),
            "invoiced_cents": row["invoiced"],
            "collected": to_units(row["collected"], code),
            "collected_cents": row["collected"],
        }
        for row in report["items"]
    ]
    return {**_money(report, code, "total_mrr"), "items": rows, "customers": rows}


def _forecast_points(report: dict, code: str) -> list[dict]:
    return [
        {
            **p,
            "mrr": to_units(p["mrr_cents"], code),
            "lower": to_units(p["lower_cents"], code),
            "upper": to_units(p["upper_cents"], code),
        }
        for p in report["forecast"]
    ]


@router.get("/forecasts", response_model=JSON)
async def revenue_forecasts(
    _: RevenueRead,
    session: ReaderDep,
    code: Currency,
    months: Annotated[int, Query(ge=1, le=24)] = 12,
) -> JSON:
    report = await reports.forecast(session, code, max(months, 12))
    if not report["available"]:
        return report
    points = _forecast_points(report, code)
    return {
        "currency": code,
        "available": True,
        "confidence": report["confidence"],
        "forecast_3_months": points[2]["mrr"],
        "forecast_6_months": points[5]["mrr"],
        "forecast_12_months": points[11]["mrr"],
        "confidence_interval_low": points[2]["lower"],
        "confidence_interval_high": points[11]["upper"],
        "forecast_method": "linear_regression",
        "accuracy_score": report["r_squared"],
        "forecast": points[:months],
        "history": [{**h, "mrr": to_units(h["mrr_cents"], code)} for h in report["history"]],
    }


def _churn_shape(report: dict, code: str) -> dict:
    shaped = _money(report, code, "mrr_at_start", "churned_mrr")
    for name in ("subscription_churn_rate", "logo_churn_rate", "revenue_churn_rate"):
        shaped[name] = _pct(report[name])
    shaped["churn_rate"] = shaped["subscription_churn_rate"]
    return shaped


@router.get("/churn", response_model=JSON)
async def revenue_churn(
    _: RevenueRead,
    session: ReaderDep,
    code: Currency,
    span: MonthRange,
) -> JSON:
    first, last = span
    return _churn_shape(await reports.churn(session, code, *_bounds(first, last)), code)


def _ltv_shape(report: dict, code: str) -> dict:
    shaped = {
        **report,
        "arpu": to_units(report["arpu_cents"], code),
        "monthly_churn_rate": _pct(report["monthly_churn_rate"]),
        "ltv_to_cac_ratio": None,
    }
    if report["available"]:
        shaped.update(
            average_ltv=to_units(report["ltv_cents"], code),
            average_customer_lifetime_months=report["lifetime_months"],
            ltv_by_plan={k: to_units(v, code) for k, v in report["by_plan"].items()},
        )
    return shaped


@router.get("/lifetime-value", response_model=JSON)
async def revenue_lifetime_value(_: RevenueRead, session: ReaderDep, code: Currency) -> JSON:
    return _ltv_shape(await reports.lifetime_value(session, code), code)


@router.get("/metrics", response_model=JSON)
async def revenue_metrics(
    _: RevenueRead,
    session: ReaderDep,
    code: Currency,
    span: MonthRange,
) -> JSON:
    first, last = span
    report = await reports.metrics(session, code, *_bounds(first, last))
    names = (
        "starting_mrr",
        "ending_mrr",
        "new_mrr",
        "expansion_mrr",
        "contraction_mrr",
        "churned_mrr",
        "invoiced",
        "collected",
        "outstanding",
    )
    shaped = _money(report, code, *names)
    for name in ("net_revenue_retention", "gross_revenue_retention", "collection_rate"):
        shaped[name] = _pct(report[name])
    return shaped


@router.get("/growth", response_model=JSON)
async def revenue_growth(
    _: RevenueRead,
    session: ReaderDep,
    code: Currency,
    span: YearRange,
    interval: Interval = "month",
) -> JSON:
    first, last = span
    report = await reports.growth(session, code, first, last, interval)
    data = [
        {
            **p,
            "mrr": to_units(p["mrr_cents"], code),
            "growth_rate": _pct(p["growth_rate"]),
            "change": None if p["change_cents"] is None else to_units(p["change_cents"], code),
        }
        for p in report["points"]
    ]
    return {
        "currency": code,
        "interval": interval,
        "start": first,
        "end": last,
        "data": data,
        "current_month_revenue": to_units(report["current_mrr_cents"], code),
        "previous_month_revenue": to_units(report["previous_month_mrr_cents"], code),
        "current_mrr_cents": report["current_mrr_cents"],
        "previous_month_mrr_cents": report["previous_month_mrr_cents"],
        "mom_growth": _pct(report["mom_growth"]),
        "qoq_growth": _pct(report["qoq_growth"]),
        "yoy_growth": _pct(report["yoy_growth"]),
    }


# --- the original Ops Center pages' paths ------------------------------------------------


@router.get("/by-plan", response_model=list[JSON])
async def revenue_by_plan(_: RevenueRead, session: ReaderDep, code: Currency) -> list[JSON]:
    report = await reports.by_plan(session, code)
    return [
        {
            **row,
            "currency": code,
            "subscriber_count": row["subscriptions"],
            "average_revenue_per_subscriber": to_units(
                reports.a.div_round(row["mrr_cents"], row["subscriptions"]), code
            ),
        }
        for row in _share_rows(report, code)
    ]


@router.get("/churn-impact", response_model=JSON)
async def revenue_churn_impact(_: RevenueRead, session: ReaderDep, code: Currency) -> JSON:
    end = datetime.now(UTC)
    report = await reports.churn(session, code, end - timedelta(days=30), end)
    shaped = _churn_shape(report, code)
    return {
        **shaped,
        "churned_subscribers": report["churned_subscriptions"],
        "revenue_impact": to_units(12 * report["churned_mrr_cents"], code),
        "period": "last_30_days",
    }


@router.get("/ltv", response_model=JSON)
async def revenue_ltv(_: RevenueRead, session: ReaderDep, code: Currency) -> JSON:
    return _ltv_shape(await reports.lifetime_value(session, code), code)


@router.get("/cohorts/revenue", response_model=list[JSON])
async def revenue_cohorts(
    _: RevenueRead,
    session: ReaderDep,
    code: Currency,
    months: Annotated[int, Query(ge=1, le=60)] = 12,
) -> list[JSON]:
    rows = await reports.cohort_revenue(session, code, months)
    return [
        {
            "cohort": row["cohort"],
            "currency": code,
            "customer_count": row["customers"],
            "total_revenue": to_units(row["invoiced"], code),
            "total_revenue_cents": row["invoiced"],
            "average_revenue_per_customer": to_units(row["average_invoiced_cents"], code),
            "retained_customers": row["retained"],
            "retention_rate": _pct(row["retention_rate"]),
        }
        for row in rows
    ]


@router.get("/mrr", response_model=JSON)
async def revenue_mrr(
    _: RevenueRead,
    session: ReaderDep,
    code: Currency,
    months: Annotated[int, Query(ge=1, le=24)] = 12,
) -> JSON:
    rows = await reports.mrr_history(session, code, months)
    names = ("mrr", "new_mrr", "expansion_mrr", "contraction_mrr", "churned_mrr")
    return {"currency": code, "mrr_trend": [_money(row, code, *names) for row in rows]}


@router.get("/arr", response_model=JSON)
async def revenue_arr(_: RevenueRead, session: ReaderDep, code: Currency) -> JSON:
    report = await reports.arr(session, code)
    return {
        "currency": code,
        "arr": to_units(report["arr_cents"], code),
        "arr_cents": report["arr_cents"],
        "arr_by_tier": {str(t): to_units(v, code) for t, v in report["by_tier_cents"].items()},
        "yoy_growth": _pct(report["yoy_growth"]),
    }


@router.get("/forecast", response_model=JSON)
async def revenue_forecast(
    _: RevenueRead,
    session: ReaderDep,
    code: Currency,
    months_ahead: Annotated[int, Query(ge=1, le=24)] = 6,
) -> JSON:
    report = await reports.forecast(session, code, months_ahead)
    if not report["available"]:
        return report
    points = [
        {**p, "projected_mrr": p["mrr"], "confidence": 80} for p in _forecast_points(report, code)
    ]
    return {"currency": code, "available": True, "confidence": 0.8, "forecast": points}
