"""`/api/v1/admin/tiers` (tiers as data) and `/api/v1/admin/users/{id}/tier`."""

from typing import Annotated, Any

from fastapi import APIRouter, Path

from atrium.db import SessionDep
from atrium.errors import NotFound
from atrium.tiers import service as tiers_service
from atrium.tiers.auth import TiersDelete, TiersRead, TiersWrite, UserTierRead, UserTierWrite
from atrium.tiers.schemas import (
    TierCreate,
    TierDeleted,
    TierList,
    TierRead,
    TierUpdate,
    UserTierAssign,
)
from atrium.tiers.schemas import UserTierRead as UserTierBody
from atrium.tiers.tables import Tier

IdPath = Annotated[int, Path(ge=1, le=2**31 - 1)]
NOT_FOUND = {404: {"description": "No such tier"}}

router = APIRouter(prefix="/api/v1/admin/tiers", tags=["tiers"])
users_router = APIRouter(prefix="/api/v1/admin/users", tags=["tiers"])
routers = [router, users_router]


def tier_read(tier: Tier, users: int = 0) -> dict[str, Any]:
    return {
        "id": str(tier.id),
        "name": tier.name,
        "description": tier.description,
        "files_scanned": tier.files_scanned,
        "llm_tokens": tier.llm_tokens,
        "requests": tier.requests,
        "storage_bytes": tier.storage_bytes,
        "is_default": tier.is_default,
        "users": users,
        "created_at": tier.created_at,
        "updated_at": tier.updated_at,
    }


@router.get("", response_model=TierList)
async def list_tiers(principal: TiersRead, session: SessionDep) -> dict[str, Any]:
    """Every tier with its monthly limits (null: no limit) and how many users it is given to."""
    return {"tiers": [tier_read(t, n) for t, n in await tiers_service.list_tiers(session)]}


@router.post("", response_model=TierRead, status_code=201)
async def create_tier(body: TierCreate, principal: TiersWrite, session: SessionDep) -> dict:
    return tier_read(await tiers_service.create_tier(session, body))


@router.get("/{tier_id}", response_model=TierRead, responses=NOT_FOUND)
async def read_tier(tier_id: IdPath, principal: TiersRead, session: SessionDep) -> dict:
    return tier_read(await tiers_service.get_tier(session, tier_id))


@router.put("/{tier_id}", response_model=TierRead, responses=NOT_FOUND)
@router.patch("/{tier_id}", response_model=TierRead, responses=NOT_FOUND)
async def update_tier(
    tier_id: IdPath, body: TierUpdate, principal: TiersWrite, session: SessionDep
) -> dict:
    """Change a tier's name, limits or description; `is_default: true` makes it the default."""
    return tier_read(await tiers_service.update_tier(session, tier_id, body))


@router.delete("/{tier_id}", response_model=TierDeleted, responses=NOT_FOUND)
async def delete_tier(tier_id: IdPath, principal: TiersDelete, session: SessionDep) -> dict:
    """Refused (409 `tier_in_use`) for the default tier and while any user has the tier."""
    return {"id": str(await tiers_service.delete_tier(session, tier_id)), "deleted": True}


def _user_tier(user_id: int, found: tiers_service.EffectiveTier) -> dict[str, Any]:
    return {"user_id": str(user_id), "tier": tier_read(found.tier), "source": found.source}


@users_router.get("/{user_id}/tier", response_model=UserTierBody)
async def read_user_tier(user_id: IdPath, principal: UserTierRead, session: SessionDep) -> dict:
    if user_id != principal.user_id and not principal.reaches("users", "read"):
        raise NotFound("User not found")
    return _user_tier(user_id, await tiers_service.users_tier(session, user_id))


@users_router.put("/{user_id}/tier", response_model=UserTierBody)
async def assign_user_tier(
    user_id: IdPath, body: UserTierAssign, principal: UserTierWrite, session: SessionDep
) -> dict:
    """Give the user a tier by name or id (null: the default tier again)."""
    return _user_tier(user_id, await tiers_service.assign_tier(session, user_id, body.tier))
