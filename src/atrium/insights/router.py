"""`GET /api/v1/insights`: traffic, latency and model figures for a time range."""

from typing import Literal

from fastapi import APIRouter

from atrium.auditlog.auth import LogsRead
from atrium.db import LongReadSessionDep
from atrium.insights import service as insights_service
from atrium.insights.schemas import InsightsRead

router = APIRouter(prefix="/api/v1/insights", tags=["insights"])


@router.get(
    "",
    response_model=InsightsRead,
    description="Requests, error rates and latency percentiles (from the audit log's hourly "
    "roll-ups; p50/p95 interpolated in a 12-bucket histogram), top routes, tokens and model "
    "shares (from the LLM usage roll-ups). Needs a role that reads everyone's logs.",
)
async def get_insights(
    principal: LogsRead,
    session: LongReadSessionDep,
    range: Literal["24h", "7d", "30d", "90d"] = "7d",
) -> InsightsRead:
    return InsightsRead(**await insights_service.insights(session, principal, range))
