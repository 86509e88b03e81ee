"""ForgeTrace's `/api/v1/usage/{stats,history}` (seed 001; CONTRACTS; DECISIONS 20)."""

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field

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


class UsageStats(BaseModel):
    filesScanned: int
    apiRequests: int
    llmTokens: int
    storageUsed: int = Field(description="Bytes of the caller's stored files")
    monthlyLimit: int | None = Field(description="The tier's monthly files-scanned limit")
    tier: str
    usageHistory: list[UsageMonth]


@router.get("/stats", response_model=UsageStats)
async def get_usage_stats(principal: UsageRead, session: SessionDep) -> dict[str, Any]:
    stats = await analytics.forgetrace_stats(session, principal)
    tier = await tiers_service.effective_tier(session, principal.user_id)
    return {
        **stats,
        "storageUsed": await files_service.used_bytes(session, principal.user_id),
        "monthlyLimit": tier.files_scanned,
        "tier": tier.name,
    }


@router.get("/history")
async def get_usage_history(
    principal: UsageRead, session: SessionDep, days: Annotated[int, Query(ge=1, le=365)] = 30
) -> dict[str, Any]:
    return await analytics.forgetrace_history(session, principal, days)
