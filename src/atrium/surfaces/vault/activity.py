"""Vault's `GET /vault/activity`: the activity feed in its `{items, total}` envelope."""

from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel

from atrium.activity import service as activity_service
from atrium.auth.deps import CurrentPrincipal
from atrium.db import SessionDep

router = APIRouter(prefix="/vault", tags=["vault"])


class VaultActivityItem(BaseModel):
    id: str
    type: str
    title: str
    description: str
    timestamp: str
    user: str | None = None


class VaultActivityFeed(BaseModel):
    items: list[VaultActivityItem]
    total: int


@router.get("/activity", response_model=VaultActivityFeed)
async def get_vault_activity(
    principal: CurrentPrincipal,
    session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    offset: Annotated[int, Query(ge=0, le=2**31 - 1)] = 0,
) -> VaultActivityFeed:
    events, total = await activity_service.feed(session, principal, limit=limit, offset=offset)
    return VaultActivityFeed(
        items=[
            VaultActivityItem(
                id=str(event.id),
                type=event.type,
                title=event.title,
                description=event.description,
                timestamp=event.created_at.isoformat().replace("+00:00", "Z"),
                user=event.actor_name,
            )
            for event in events
        ],
        total=total,
    )
