"""Usage analytics (seed 002 /llm/usage/*, seed 001 /usage/*), read from the daily roll-ups.

A caller sees only their own usage unless their role reaches everyone's.
"""

from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from atrium.auth.principal import Principal
from atrium.errors import BadRequest
from atrium.usage import forecast as forecasting
from atrium.usage.tables import UsageDaily, UsageRecord
from atrium.users import service as users_service

METRICS = ("calls", "tokens", "cost")
Metric = Literal["calls", "tokens", "cost"]
MAX_PERIOD_DAYS = 366
FORECAST_HISTORY_DAYS = 120

D = UsageDaily
_calls = func.coalesce(func.sum(D.calls), 0)
_errors = func.coalesce(func.sum(D.errors), 0)
_prompt = func.coalesce(func.sum(D.prompt_tokens), 0)
_completion = func.coalesce(func.sum(D.completion_tokens), 0)
_cost = func.coalesce(func.sum(D.cost_usd), 0.0)
_latency = func.coalesce(func.sum(D.latency_ms_sum), 0)
SUMS = (
    _calls.label("calls"),
    _errors.label("errors"),
    _prompt.label("prompt"),
    _completion.label("completion"),
    _cost.label("cost"),
    _latency.label("latency"),
)


def today() -> date:
    return datetime.now(UTC).date()


def scope_user(principal: Principal) -> int | None:
    """None when the caller may read everyone's usage, else their own user id."""
    return None if principal.reaches("usage", "read") else principal.user_id


def period(days: int, start: date | None = None, end: date | None = None) -> tuple[date, date]:
    last = end or today()
    try:
        first = start or last - timedelta(days=days - 1)
    except OverflowError:
        raise BadRequest("end_date is too early", param="end_date") from None
    if first > last:
        raise BadRequest("start_date must not be after end_date", param="start_date")
    if (last - first).days >= MAX_PERIOD_DAYS:
        # each day of the period is a row of the answer
        raise BadRequest(
            f"The period must be at most {MAX_PERIOD_DAYS} days long", param="start_date"
        )
    return first, last


def _scoped(statement: Select, principal: Principal, first: date, last: date) -> Select:
    statement = statement.where(D.day >= first, D.day <= last)
    user_id = scope_user(principal)
    return statement if user_id is None else statement.where(D.user_id == user_id)


def _money(value: float) -> float:
    return round(float(value or 0.0), 6)


def _seconds(latency_ms: int, calls: int) -> float:
    return round(latency_ms / calls / 1000, 4) if calls else 0.0


def _figures(row: Any) -> dict[str, Any]:
    calls = int(row.calls)
    prompt, completion = int(row.prompt), int(row.completion)
    return {
        "calls": calls,
        "tokens": prompt + completion,
        "input_tokens": prompt,
        "output_tokens": completion,
        "cost": _money(row.cost),
        "avg_response_time": _seconds(int(row.latency), calls),
        "errors": int(row.errors),
    }


def days_between(first: date, last: date) -> list[date]:
    return [first + timedelta(days=offset) for offset in range((last - first).days + 1)]


async def _daily(session: AsyncSession, principal: Principal, first: date, last: date):
    statement = _scoped(select(D.day, *SUMS), principal, first, last).group_by(D.day)
    return {row.day: _figures(row) for row in await session.execute(statement)}


def empty_day() -> dict[str, Any]:
    return {
        "calls": 0,
        "tokens": 0,
        "input_tokens": 0,
        "output_tokens": 0,
        "cost": 0.0,
        "avg_response_time": 0.0,
        "errors": 0,
    }


async def overview(
    session: AsyncSession,
    principal: Principal,
    days: int,
    start: date | None = None,
    end: date | None = None,
) -> dict[str, Any]:
    first, last = period(days, start, end)
    daily = await _daily(session, principal, first, last)
    totals = await session.execute(_scoped(select(*SUMS), principal, first, last))
    total = _figures(totals.one())
    top = await session.execute(
        _scoped(select(D.model, _calls.label("calls")), principal, first, last)
        .group_by(D.model)
        .order_by(_calls.desc(), D.model)
        .limit(1)
    )
    top_row = top.first()
    return {
        "total_calls": total["calls"],
        "total_tokens": total["tokens"],
        "input_tokens": total["input_tokens"],
        "output_tokens": total["output_tokens"],
        "total_cost": total["cost"],
        "avg_response_time": total["avg_response_time"],
        "error_rate": round(total["errors"] / total["calls"], 4) if total["calls"] else 0.0,
        "period_days": (last - first).days + 1,
        "most_used_model": top_row.model if top_row else None,
        "daily_breakdown": [
            {"date": day.isoformat(), **daily.get(day, empty_day())}
            for day in days_between(first, last)
        ],
    }


async def by_model(
    session: AsyncSession, principal: Principal, days: int, model_filter: str | None = None
) -> dict[str, Any]:
    first, last = period(days)
    statement = _scoped(select(D.model, *SUMS), principal, first, last).group_by(D.model)
    if model_filter:
        statement = statement.where(D.model.ilike(f"%{model_filter}%"))
    models = []
    for row in await session.execute(statement.order_by(_calls.desc(), D.model)):
        figures = _figures(row)
        models.append(
            {
                "model": row.model,
                **{k: figures[k] for k in ("calls", "tokens", "input_tokens", "output_tokens")},
                "cost": figures["cost"],
                "avg_response_time": figures["avg_response_time"],
                "avg_tokens_per_call": round(figures["tokens"] / figures["calls"], 2)
                if figures["calls"]
                else 0.0,
                "error_count": figures["errors"],
            }
        )
    return {
        "period_days": days,
        "model_count": len(models),
        "models": models,
        "total_calls": sum(m["calls"] for m in models),
        "total_cost": _money(sum(m["cost"] for m in models)),
    }


async def by_provider(
    session: AsyncSession, principal: Principal, first: date, last: date
) -> list[dict[str, Any]]:
    """Per provider (by name): calls, tokens, cost, errors, share of calls; most calls first."""
    statement = _scoped(select(D.provider, *SUMS), principal, first, last).group_by(D.provider)
    rows = [(row.provider, _figures(row)) for row in await session.execute(statement)]
    total = sum(figures["calls"] for _name, figures in rows)
    rows.sort(key=lambda item: (-item[1]["calls"], item[0]))
    return [
        {
            "name": name,
            **figures,
            "percentage": round(figures["calls"] * 100 / total, 2) if total else 0.0,
        }
        for name, figures in rows
    ]


async def provider_totals(session: AsyncSession, names: list[str]) -> dict[str, dict[str, Any]]:
    """All-time figures of the named providers (everyone's usage), for provider settings."""
    if not names:
        return {}
    statement = (
        select(D.provider, *SUMS, func.max(D.last_at).label("last_at"))
        .where(D.provider.in_(names))
        .group_by(D.provider)
    )
    return {
        row.provider: {**_figures(row), "last_at": row.last_at}
        for row in await session.execute(statement)
    }


async def export_rows(
    session: AsyncSession, principal: Principal, first: date, last: date
) -> list[dict[str, Any]]:
    """One row per day, provider and model: what an export file holds."""
    statement = (
        _scoped(select(D.day, D.provider, D.model, *SUMS), principal, first, last)
        .group_by(D.day, D.provider, D.model)
        .order_by(D.day, D.provider, D.model)
        .limit(100_000)
    )
    return [
        {"date": row.day.isoformat(), "provider": row.provider, "model": row.model, **_figures(row)}
        for row in await session.execute(statement)
    ]


async def _per_user(
    session: AsyncSession, principal: Principal, first: date, last: date
) -> list[dict[str, Any]]:
    statement = _scoped(
        select(D.user_id, *SUMS, func.max(D.last_at).label("last_at")), principal, first, last
    ).group_by(D.user_id)
    rows = list(await session.execute(statement))
    names = await users_service.usernames(
        session, [row.user_id for row in rows if row.user_id is not None]
    )
    users = []
    for row in rows:
        figures = _figures(row)
        users.append(
            {
                "user_id": str(row.user_id) if row.user_id is not None else None,
                "username": names.get(row.user_id, "deleted user"),
                "calls": figures["calls"],
                "tokens": figures["tokens"],
                "cost": figures["cost"],
                "errors": figures["errors"],
                "last_activity": row.last_at,
            }
        )
    return users


async def _top_model_per_user(
    session: AsyncSession, principal: Principal, first: date, last: date
) -> dict[Any, str]:
    statement = _scoped(
        select(D.user_id, D.model, _calls.label("calls")), principal, first, last
    ).group_by(D.user_id, D.model)
    best: dict[Any, tuple[int, str]] = {}
    for row in await session.execute(statement):
        current = best.get(row.user_id)
        if current is None or (row.calls, row.model) > current:
            best[row.user_id] = (int(row.calls), row.model)
    return {user_id: model for user_id, (_calls_, model) in best.items()}


async def by_user(
    session: AsyncSession,
    principal: Principal,
    days: int,
    limit: int,
    user_filter: str | None = None,
) -> dict[str, Any]:
    first, last = period(days)
    users = await _per_user(session, principal, first, last)
    if user_filter:
        users = [u for u in users if user_filter.lower() in u["username"].lower()]
    models = await _top_model_per_user(session, principal, first, last)
    users.sort(key=lambda u: (-u["calls"], u["username"]))
    total_calls = sum(u["calls"] for u in users)
    total_cost = sum(u["cost"] for u in users)
    shown = []
    for user in users[:limit]:
        user_id = int(user["user_id"]) if user["user_id"] is not None else None
        shown.append(
            {
                **user,
                "most_used_model": models.get(user_id),
                "avg_calls_per_day": round(user["calls"] / days, 2),
            }
        )
    return {
        "period_days": days,
        "user_count": len(users),
        "users": shown,
        "total_calls": total_calls,
        "total_cost": _money(total_cost),
        "avg_calls_per_user": round(total_calls / len(users), 2) if users else 0.0,
    }


def _trend(daily_costs: list[float]) -> dict[str, Any]:
    half = len(daily_costs) // 2
    earlier, later = sum(daily_costs[:half]), sum(daily_costs[half:])
    if len(daily_costs) % 2:
        later -= daily_costs[half]  # compare halves of equal length
    change = ((later - earlier) / earlier * 100) if earlier else None
    direction = "flat"
    if later > earlier * 1.05 or (earlier == 0 and later > 0):
        direction = "up"
    elif later < earlier * 0.95:
        direction = "down"
    return {
        "direction": direction,
        "first_half_cost": _money(earlier),
        "second_half_cost": _money(later),
        "change_percent": round(change, 2) if change is not None else None,
    }


async def costs(session: AsyncSession, principal: Principal, days: int) -> dict[str, Any]:
    first, last = period(days)
    daily = await _daily(session, principal, first, last)
    series = [daily.get(day, empty_day())["cost"] for day in days_between(first, last)]
    by_model_rows = await session.execute(
        _scoped(select(D.model, _cost.label("cost")), principal, first, last)
        .group_by(D.model)
        .order_by(_cost.desc())
    )
    users = await _per_user(session, principal, first, last)
    total = sum(series)
    return {
        "period_days": days,
        "total_cost": _money(total),
        "cost_by_model": {row.model: _money(row.cost) for row in by_model_rows},
        "cost_by_user": {u["username"]: u["cost"] for u in sorted(users, key=lambda u: -u["cost"])},
        "projected_monthly_cost": _money(total / days * 30),
        "daily_costs": [
            {"date": day.isoformat(), "cost": cost}
            for day, cost in zip(days_between(first, last), series, strict=True)
        ],
        "cost_trends": _trend(series),
    }


async def history(session: AsyncSession, principal: Principal, days: int) -> dict[str, Any]:
    first, last = period(days)
    daily = await _daily(session, principal, first, last)
    return {
        "period_days": days,
        "history": [
            {"date": day.isoformat(), **daily.get(day, empty_day())}
            for day in days_between(first, last)
        ],
    }


def _metric(metric: str) -> str:
    if metric not in METRICS:
        raise BadRequest(f"metric must be one of {', '.join(METRICS)}", param="metric")
    return metric


async def top_users(
    session: AsyncSession, principal: Principal, days: int, limit: int, metric: str
) -> dict[str, Any]:
    metric = _metric(metric)
    first, last = period(days)
    users = await _per_user(session, principal, first, last)
    users.sort(key=lambda u: (-u[metric], u["username"]))
    return {"metric": metric, "limit": limit, "period_days": days, "top_users": users[:limit]}


async def top_models(
    session: AsyncSession, principal: Principal, days: int, limit: int, metric: str
) -> dict[str, Any]:
    metric = _metric(metric)
    result = await by_model(session, principal, days)
    models = sorted(result["models"], key=lambda m: (-m[metric], m["model"]))
    return {
        "metric": metric,
        "limit": limit,
        "period_days": days,
        "top_models": [
            {
                k: m[k]
                for k in ("model", "calls", "tokens", "cost", "avg_response_time", "error_count")
            }
            for m in models[:limit]
        ],
    }


async def forecasts(session: AsyncSession, principal: Principal, horizon: int) -> dict[str, Any]:
    last = today()
    window_first = last - timedelta(days=FORECAST_HISTORY_DAYS - 1)
    daily = await _daily(session, principal, window_first, last)
    active = sorted(day for day, figures in daily.items() if figures["calls"])
    history_days = (last - active[0]).days + 1 if active else 0
    if history_days < forecasting.MIN_DAYS:
        return {
            "available": False,
            "reason": "insufficient_data",
            "days_needed": forecasting.MIN_DAYS - history_days,
            "history_days": history_days,
            "horizon_days": horizon,
        }
    first = active[0]
    days = days_between(first, last)
    results: dict[str, list] = {}
    seasonal = False
    for metric in METRICS:
        values = [float(daily.get(day, empty_day())[metric]) for day in days]
        model, points = forecasting.forecast(values, first, horizon)
        seasonal = model.seasonal
        results[metric] = points
    forecast_days = []
    for index, (day, *_rest) in enumerate(results["cost"]):
        point: dict[str, Any] = {"date": day.isoformat()}
        for metric in METRICS:
            _day, value, lower, upper = results[metric][index]
            rounder = _money if metric == "cost" else (lambda v: round(v, 2))
            point[metric] = rounder(value)
            point[f"{metric}_lower"] = rounder(lower)
            point[f"{metric}_upper"] = rounder(upper)
        forecast_days.append(point)
    return {
        "available": True,
        "horizon_days": horizon,
        "history_days": history_days,
        "method": "linear trend + weekly season" if seasonal else "linear trend",
        "seasonal": seasonal,
        "days_for_seasonality": max(0, forecasting.SEASONAL_DAYS - history_days),
        "forecast": forecast_days,
        "projected_total_cost": _money(sum(p["cost"] for p in forecast_days)),
        "projected_total_calls": round(sum(p["calls"] for p in forecast_days)),
        "projected_total_tokens": round(sum(p["tokens"] for p in forecast_days)),
    }


# --- one user's own figures (surfaces reshape them) -------------------------------------


async def own_daily(
    session: AsyncSession, user_id: int, first: date, last: date
) -> dict[date, dict[str, Any]]:
    """One user's figures per day with calls in [first, last] (keys as in `_figures`)."""
    statement = (
        select(D.day, *SUMS)
        .where(D.user_id == user_id, D.day >= first, D.day <= last)
        .group_by(D.day)
    )
    return {row.day: _figures(row) for row in await session.execute(statement)}


async def recent_calls(session: AsyncSession, since: datetime) -> dict[str, Any]:
    """Every user's gateway calls since `since` (a short window: reads the indexed records)."""
    record = UsageRecord
    row = (
        await session.execute(
            select(
                func.count(),
                func.coalesce(func.sum(record.latency_ms), 0),
                func.coalesce(func.sum(record.completion_tokens), 0),
            ).where(record.created_at >= since)
        )
    ).one()
    return {"calls": int(row[0]), "latency_ms_sum": int(row[1]), "completion_tokens": int(row[2])}


async def totals_by_model(session: AsyncSession) -> list[dict[str, Any]]:
    """All-time calls, errors, tokens and cost per provider and model (from the roll-ups)."""
    rows = await session.execute(
        select(
            D.provider,
            D.model,
            func.sum(D.calls),
            func.sum(D.errors),
            func.sum(D.prompt_tokens),
            func.sum(D.completion_tokens),
            func.sum(D.cost_usd),
        ).group_by(D.provider, D.model)
    )
    return [
        {
            "provider": provider,
            "model": model,
            "calls": int(calls or 0),
            "errors": int(errors or 0),
            "prompt_tokens": int(prompt or 0),
            "completion_tokens": int(completion or 0),
            "cost_usd": float(cost or 0.0),
        }
        for provider, model, calls, errors, prompt, completion, cost in rows.tuples()
    ]
