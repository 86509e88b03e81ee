"""ForgeTrace's `/api/v1/usage/{stats,history}` (seed 001; CONTRACTS; DECISIONS 20)."""

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from atrium.auth.deps import require
from atrium.auth.principal import Principal
from atrium.db import SessionDep
from atrium.llm import analytics

router = APIRouter(prefix="/api/v1/usage", tags=["forgetrace"])
UsageRead = Annotated[Principal, Depends(require("usage", "read"))]


@router.get("/stats")
async def get_usage_stats(principal: UsageRead, session: SessionDep) -> dict[str, Any]:
    return await analytics.forgetrace_stats(session, principal)


@router.get("/history")
async def get_usage_history(
    principal: UsageRead, session: SessionDep, days: Annotated[int, Query(ge=1, le=365)] = 30
) -> dict[str, Any]:
    return await analytics.forgetrace_history(session, principal, days)
