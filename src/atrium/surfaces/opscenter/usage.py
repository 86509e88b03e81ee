"""The Ops Center's LLM usage page: `/api/v1/llm/usage/{summary,by-provider,by-power-level,
export}` (LLMUsage.jsx), over the gateway's usage roll-ups.

The page shows everyone's usage, as the original's admin-only page did: it needs a role whose
reach covers all usage (administrators, moderators, analysts).
"""

import csv
import io
from datetime import date, timedelta
from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response
from pydantic import BaseModel

from atrium.auth.principal import Principal
from atrium.db import SessionDep
from atrium.errors import Forbidden
from atrium.tiers import service as tiers_service
from atrium.usage import analytics
from atrium.usage.auth import UsageRead

router = APIRouter(prefix="/api/v1/llm/usage", tags=["ops center"])
RangeName = Literal["week", "month", "quarter", "year"]
RANGES: dict[str, int] = {"week": 7, "month": 30, "quarter": 90, "year": 365}
RangeQuery = Annotated[RangeName, Query(alias="range")]
EXPORT_FIELDS = (
    "date",
    "provider",
    "model",
    "calls",
    "errors",
    "input_tokens",
    "output_tokens",
    "tokens",
    "cost",
    "avg_response_time",
)


async def reaching(principal: UsageRead) -> Principal:
    if not principal.reaches("usage", "read"):
        raise Forbidden("This page shows everyone's usage: it needs a role that reaches all usage")
    return principal


Everyone = Annotated[Principal, Depends(reaching)]


class Growth(BaseModel):
    calls: float
    cost: float
    avg_cost: float
    available: bool


class TimelinePoint(BaseModel):
    date: str
    calls: int
    tokens: int
    cost: float


class Quota(BaseModel):
    tier: str
    llm_tokens_limit: int | None
    llm_tokens_used: int


class Summary(BaseModel):
    range: str
    period_days: int
    total_calls: int
    total_tokens: int
    total_cost: float
    avg_cost_per_call: float
    error_rate: float
    growth: Growth
    quota_used_percent: float
    quota: Quota
    timeline: list[TimelinePoint]


class ProviderShare(BaseModel):
    name: str
    calls: int
    tokens: int
    input_tokens: int
    output_tokens: int
    cost: float
    errors: int
    avg_response_time: float
    percentage: float


class ByProvider(BaseModel):
    range: str
    providers: list[ProviderShare]


class ByPowerLevel(BaseModel):
    available: bool
    reason: str
    detail: str
    levels: list[dict[str, Any]]


def _window(range_name: str) -> tuple[date, date]:
    last = analytics.today()
    return last - timedelta(days=RANGES[range_name] - 1), last


def _percent_change(now: float, before: float) -> float:
    return round((now - before) * 100 / before, 1) if before else 0.0


async def _quota(session: SessionDep, principal: Principal) -> dict[str, Any]:
    tier = await tiers_service.effective_tier(session, principal.user_id)
    last = analytics.today()
    month = await analytics.own_daily(session, principal.user_id, last.replace(day=1), last)
    used = sum(figures["tokens"] for figures in month.values())
    return {"tier": tier.name, "llm_tokens_limit": tier.llm_tokens, "llm_tokens_used": used}


@router.get("/summary", response_model=Summary)
async def usage_summary(
    principal: Everyone, session: SessionDep, range_name: RangeQuery = "month"
) -> dict[str, Any]:
    """Calls, cost and their change against the period before, the caller's tier quota used
    this month, and a daily timeline."""
    days = RANGES[range_name]
    first, last = _window(range_name)
    now = await analytics.overview(session, principal, days, first, last)
    before = await analytics.overview(
        session, principal, days, first - timedelta(days=days), first - timedelta(days=1)
    )
    avg_now = now["total_cost"] / now["total_calls"] if now["total_calls"] else 0.0
    avg_before = before["total_cost"] / before["total_calls"] if before["total_calls"] else 0.0
    quota = await _quota(session, principal)
    limit = quota["llm_tokens_limit"]
    return {
        "range": range_name,
        "period_days": days,
        "total_calls": now["total_calls"],
        "total_tokens": now["total_tokens"],
        "total_cost": now["total_cost"],
        "avg_cost_per_call": round(avg_now, 6),
        "error_rate": now["error_rate"],
        "growth": {
            "calls": _percent_change(now["total_calls"], before["total_calls"]),
            "cost": _percent_change(now["total_cost"], before["total_cost"]),
            "avg_cost": _percent_change(avg_now, avg_before),
            "available": before["total_calls"] > 0,
        },
        "quota_used_percent": round(min(quota["llm_tokens_used"] * 100 / limit, 100.0), 1)
        if limit
        else 0.0,
        "quota": quota,
        "timeline": [
            {"date": d["date"], "calls": d["calls"], "tokens": d["tokens"], "cost": d["cost"]}
            for d in now["daily_breakdown"]
        ],
    }


@router.get("/by-provider", response_model=ByProvider)
async def usage_by_provider(
    principal: Everyone, session: SessionDep, range_name: RangeQuery = "month"
) -> dict[str, Any]:
    first, last = _window(range_name)
    providers = await analytics.by_provider(session, principal, first, last)
    return {"range": range_name, "providers": providers}


@router.get("/by-power-level", response_model=ByPowerLevel)
async def usage_by_power_level(principal: Everyone) -> dict[str, Any]:
    """Atrium routes by model, not by Ops Center power levels: not computable, said so."""
    return {
        "available": False,
        "reason": "power_levels_not_tracked",
        "detail": "Calls are routed by model and provider, not by power level; see by-provider "
        "and /api/v1/llm/usage/by-model",
        "levels": [],
    }


@router.get(
    "/export",
    response_class=Response,
    responses={200: {"content": {"text/csv": {}, "application/json": {}}}},
)
async def export_usage(
    principal: Everyone,
    session: SessionDep,
    range_name: RangeQuery = "month",
    format: Literal["csv", "json"] = "csv",
) -> Response:
    """Usage per day, provider and model in the range, as a CSV or JSON download."""
    first, last = _window(range_name)
    rows = await analytics.export_rows(session, principal, first, last)
    name = f"llm-usage-{range_name}-{last.isoformat()}.{format}"
    headers = {"Content-Disposition": f'attachment; filename="{name}"'}
    if format == "json":
        body = {"range": range_name, "from": first.isoformat(), "to": last.isoformat()}
        return Response(
            orjson.dumps({**body, "rows": rows}), media_type="application/json", headers=headers
        )
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=EXPORT_FIELDS, extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    return Response(out.getvalue(), media_type="text/csv", headers=headers)
