"""ForgeTrace's `/api/v1/usage/{stats,history}` (seed 001; CONTRACTS; DECISIONS 20)."""

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field

from atrium.audits import service as audits_service
from atrium.auth.deps import require
from atrium.auth.principal import Principal
from atrium.db import SessionDep
from atrium.files import service as files_service
from atrium.llm import analytics
from atrium.tiers import service as tiers_service

router = APIRouter(prefix="/api/v1/usage", tags=["forgetrace"])
UsageRead = Annotated[Principal, Depends(require("usage", "read"))]


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


@router.get("/stats", response_model=UsageStats)
async def get_usage_stats(principal: UsageRead, session: SessionDep) -> dict[str, Any]:
    stats = await analytics.forgetrace_stats(session, principal)
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
    history = await analytics.forgetrace_history(session, principal, days)
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
