"""ForgeTrace's `/api/v1/usage/{stats,history}` (seed 001; CONTRACTS)."""

from collections import defaultdict
from datetime import date, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field
from sqlalchemy.ext.asyncio import AsyncSession

from atrium.audits import service as audits_service
from atrium.auth.principal import Principal
from atrium.db import SessionDep
from atrium.files import service as files_service
from atrium.tiers import service as tiers_service
from atrium.usage import analytics as usage_analytics
from atrium.usage.auth import UsageRead

router = APIRouter(prefix="/api/v1/usage", tags=["forgetrace"])


class UsageMonth(BaseModel):
    date: str
    count: int
    filesScanned: int = 0


class UsageStats(BaseModel):
    filesScanned: int
    apiRequests: int
    llmTokens: int
    storageUsed: int = Field(description="Bytes of the caller's stored files and audit reports")
    monthlyLimit: int | None = Field(description="The tier's monthly files-scanned limit")
    tier: str
    usageHistory: list[UsageMonth]


def _month_key(day: date) -> str:
    return f"{day.year:04d}-{day.month:02d}"


async def gateway_stats(session: AsyncSession, principal: Principal) -> dict[str, Any]:
    """The caller's own gateway figures: this month's API calls and LLM tokens, six months of
    history (storage and tier come from their own domains)."""
    last = usage_analytics.today()
    first = (last.replace(day=1) - timedelta(days=160)).replace(day=1)
    daily = await usage_analytics.own_daily(session, principal.user_id, first, last)
    months: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for day, figures in daily.items():
        month = months[_month_key(day)]
        month[0] += figures["calls"]
        month[1] += figures["tokens"]
    current = months.get(_month_key(last), [0, 0])
    keys, cursor = [], first
    while cursor <= last:
        keys.append(_month_key(cursor))
        cursor = (cursor + timedelta(days=32)).replace(day=1)
    return {
        "filesScanned": 0,
        "apiRequests": current[0],
        "llmTokens": current[1],
        "usageHistory": [{"date": key, "count": months.get(key, [0, 0])[0]} for key in keys],
    }


async def gateway_history(session: AsyncSession, principal: Principal, days: int) -> dict[str, Any]:
    first, last = usage_analytics.period(days)
    daily = await usage_analytics.own_daily(session, principal.user_id, first, last)
    empty = usage_analytics.empty_day()
    return {
        "period": f"last_{days}_days",
        "data": [
            {
                "date": day.isoformat(),
                "apiRequests": daily.get(day, empty)["calls"],
                "tokens": daily.get(day, empty)["tokens"],
                "cost": daily.get(day, empty)["cost"],
                "errors": daily.get(day, empty)["errors"],
            }
            for day in usage_analytics.days_between(first, last)
        ],
    }


@router.get("/stats", response_model=UsageStats)
async def get_usage_stats(principal: UsageRead, session: SessionDep) -> dict[str, Any]:
    stats = await gateway_stats(session, principal)
    user_id = principal.user_id
    tier = await tiers_service.effective_tier(session, user_id)
    stats["filesScanned"] = await audits_service.files_scanned_this_month(session, user_id)
    history = stats.get("usageHistory") or []
    if history:
        first = date.fromisoformat(f"{history[0]['date']}-01")
        by_month = await audits_service.files_scanned_by_month(
            session, user_id, first, date.today()
        )
        for entry in history:
            entry["filesScanned"] = by_month.get(entry["date"], 0)
    stored = await files_service.used_bytes(session, user_id)
    return {
        **stats,
        "storageUsed": stored + await audits_service.report_bytes(session, user_id),
        "monthlyLimit": tier.files_scanned,
        "tier": tier.name,
    }


@router.get("/history")
async def get_usage_history(
    principal: UsageRead, session: SessionDep, days: Annotated[int, Query(ge=1, le=365)] = 30
) -> dict[str, Any]:
    history = await gateway_history(session, principal, days)
    data = history.get("data") or []
    if data:
        by_day = await audits_service.files_scanned_by_day(
            session,
            principal.user_id,
            date.fromisoformat(data[0]["date"]),
            date.fromisoformat(data[-1]["date"]),
        )
        for entry in data:
            entry["filesScanned"] = by_day.get(date.fromisoformat(entry["date"]), 0)
    return history
