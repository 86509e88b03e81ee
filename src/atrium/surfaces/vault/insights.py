"""Vault's `GET /vault/insights?range=24h|7d|30d|90d` in its original shape."""

from typing import Literal

from fastapi import APIRouter
from pydantic import BaseModel

from atrium.auditlog.auth import LogsRead
from atrium.db import LongReadSessionDep
from atrium.insights import service as insights_service
from atrium.insights.schemas import ModelShare, TimeBucket, UsagePoint

router = APIRouter(prefix="/vault", tags=["vault"])


class VaultInsights(BaseModel):
    usage_history: list[UsagePoint]
    response_time_distribution: list[TimeBucket]
    model_usage: list[ModelShare]
    total_requests: int
    total_tokens: int
    avg_response_time: float
    active_users: int


@router.get("/insights", response_model=VaultInsights)
async def get_vault_insights(
    principal: LogsRead,
    session: LongReadSessionDep,
    range: Literal["24h", "7d", "30d", "90d"] = "7d",
) -> VaultInsights:
    return VaultInsights(**await insights_service.insights(session, principal, range))
