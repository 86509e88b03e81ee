"""ForgeTrace's `/api/v1/usage/{stats,history}` (seed 001; CONTRACTS; DECISIONS 20)."""

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from atrium.audits import service as audits_service
from atrium.auth.deps import require
from atrium.auth.principal import Principal
from atrium.db import SessionDep
from atrium.llm import analytics

router = APIRouter(prefix="/api/v1/usage", tags=["forgetrace"])
UsageRead = Annotated[Principal, Depends(require("usage", "read"))]


@router.get("/stats")
async def get_usage_stats(principal: UsageRead, session: SessionDep) -> dict[str, Any]:
    stats = await analytics.forgetrace_stats(session, principal)
    user_id = principal.user_id
    stats["filesScanned"] = await audits_service.files_scanned_this_month(session, user_id)
    stats["storageUsed"] = stats.get("storageUsed", 0) + await audits_service.report_bytes(
        session, user_id
    )
    history = stats.get("usageHistory") or []
    if history:
        first = date.fromisoformat(f"{history[0]['date']}-01")
        by_month = await audits_service.files_scanned_by_month(
            session, user_id, first, date.today()
        )
        for entry in history:
            entry["filesScanned"] = by_month.get(entry["date"], 0)
    return stats


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
