"""Tiers as data: monthly limits per tier, the tier that applies to a user,
and the quota checks the domains that count usage call.

A user's tier: what a registered resolver says (billing: the active subscription's plan's
tier), else the tier an administrator assigned, else the default tier. Administrators run the
instance and are held to no tier's limits.
"""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from atrium.errors import BadRequest
from atrium.params import MAX_ID
from atrium.tiers.errors import (
    PlanQuotaExceeded,
    StorageQuotaExceeded,
    TierInUse,
    TierNameTaken,
    TierNotFound,
)
from atrium.tiers.schemas import TierCreate, TierUpdate
from atrium.tiers.tables import Tier, UserTier
from atrium.users import service as users_service

METRICS = {
    "files_scanned": "files scanned",
    "llm_tokens": "LLM tokens",
    "requests": "requests",
    "storage_bytes": "bytes of storage",
}
# (session, user_id) -> a tier's id or name, or None when the resolver has no say
TierResolver = Callable[[AsyncSession, int], Awaitable[int | str | None]]
# (session, user_id, since) -> how much of a metric the user used since `since`
UsageCounter = Callable[[AsyncSession, int, datetime], Awaitable[int]]

# Filled at import time by the domains that know (billing's subscriptions, audits' counts);
# plain functions, no state.
tier_resolvers: list[TierResolver] = []
usage_counters: dict[str, UsageCounter] = {}


def register_tier_resolver(resolver: TierResolver) -> None:
    if resolver not in tier_resolvers:
        tier_resolvers.append(resolver)


def register_usage_counter(metric: str, counter: UsageCounter) -> None:
    if metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r}")
    usage_counters[metric] = counter


# --- months ----------------------------------------------------------------------------


def month_start(now: datetime) -> datetime:
    return now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def next_month(now: datetime) -> datetime:
    start = month_start(now)
    if start.month == 12:
        return start.replace(year=start.year + 1, month=1)
    return start.replace(month=start.month + 1)


def quota_error(tier_name: str, metric: str, limit: int, now: datetime) -> PlanQuotaExceeded:
    resets = next_month(now)
    return PlanQuotaExceeded(
        f"The {tier_name} tier's monthly limit of {limit} {METRICS[metric]} is reached; "
        f"it resets on {resets.date().isoformat()} (UTC)",
        limit=metric,
        resets_at=resets,
        retry_after=int((resets - now).total_seconds()) + 1,
    )


# --- tiers -----------------------------------------------------------------------------


async def list_tiers(session: AsyncSession) -> list[tuple[Tier, int]]:
    users = select(UserTier.tier_id, func.count().label("n")).group_by(UserTier.tier_id).subquery()
    rows = await session.execute(
        select(Tier, func.coalesce(users.c.n, 0))
        .outerjoin(users, users.c.tier_id == Tier.id)
        .order_by(Tier.id)
        .limit(1000)
    )
    return [(tier, int(count)) for tier, count in rows.tuples()]


async def get_tier(session: AsyncSession, tier_id: int) -> Tier:
    tier = await session.get(Tier, tier_id)
    if tier is None:
        raise TierNotFound()
    return tier


async def find_tier(session: AsyncSession, ref: int | str) -> Tier:
    """A tier by id, or by name (case-insensitive)."""
    if isinstance(ref, int) or (isinstance(ref, str) and ref.strip().isdigit()):
        number = int(ref)
        if 0 < number <= MAX_ID:
            tier = await session.get(Tier, number)
            if tier is not None:
                return tier
    if isinstance(ref, str):
        tier = await session.scalar(select(Tier).where(Tier.name == ref.strip().lower()))
        if tier is not None:
            return tier
    raise TierNotFound(f"No tier named '{ref}'")


async def _check_name_free(session: AsyncSession, name: str, except_id: int | None = None):
    statement = select(Tier.id).where(Tier.name == name)
    if except_id is not None:
        statement = statement.where(Tier.id != except_id)
    if await session.scalar(statement) is not None:
        raise TierNameTaken(f"A tier named '{name}' already exists", param="name")


def _invalidate_limits(session: AsyncSession) -> None:
    """Cached limits (the gateway's) follow the auth cache: drop it after the commit."""
    cache = session.info.get("auth_cache")
    if cache is not None:
        cache.invalidate_after_commit(session)


async def _make_default(session: AsyncSession, tier: Tier) -> None:
    await session.execute(update(Tier).where(Tier.id != tier.id).values(is_default=False))
    tier.is_default = True


async def create_tier(session: AsyncSession, data: TierCreate) -> Tier:
    await _check_name_free(session, data.name)
    values = data.model_dump(exclude={"is_default"})
    tier = Tier(**values, is_default=False)
    session.add(tier)
    await session.flush()
    if data.is_default:
        await _make_default(session, tier)
        await session.flush()
    _invalidate_limits(session)
    return tier


async def update_tier(session: AsyncSession, tier_id: int, changes: TierUpdate) -> Tier:
    tier = await get_tier(session, tier_id)
    values = changes.model_dump(exclude_unset=True)
    if values.get("name") is not None:
        await _check_name_free(session, values["name"], except_id=tier.id)
        tier.name = values["name"]
    for field in ("description", *METRICS):
        if field in values:
            setattr(tier, field, values[field])
    if values.get("is_default") is True:
        await _make_default(session, tier)
    elif values.get("is_default") is False and tier.is_default:
        raise BadRequest(
            "One tier is always the default: make another tier the default instead",
            param="is_default",
        )
    tier.updated_at = datetime.now(UTC)
    await session.flush()
    _invalidate_limits(session)
    return tier


async def delete_tier(session: AsyncSession, tier_id: int) -> int:
    tier = await get_tier(session, tier_id)
    if tier.is_default:
        raise TierInUse("The default tier cannot be deleted: make another tier the default first")
    users = await session.scalar(
        select(func.count()).select_from(UserTier).where(UserTier.tier_id == tier.id)
    )
    if users:
        raise TierInUse(f"The tier '{tier.name}' is assigned to {users} user(s)")
    try:
        async with session.begin_nested():
            await session.delete(tier)
            await session.flush()
    except IntegrityError:  # a row of another domain (a billing plan) still refers to it
        raise TierInUse(f"The tier '{tier.name}' is still in use") from None
    return tier_id


# --- a user's tier ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EffectiveTier:
    tier: Tier
    source: str  # subscription, assigned or default


async def default_tier(session: AsyncSession) -> Tier:
    tier = await session.scalar(select(Tier).where(Tier.is_default.is_(True)).limit(1))
    if tier is None:  # every tier deleted but one made default: the oldest stands in
        tier = await session.scalar(select(Tier).order_by(Tier.id).limit(1))
    if tier is None:
        raise TierNotFound("No tier is defined: an administrator can add one")
    return tier


async def resolve_tier(session: AsyncSession, user_id: int) -> EffectiveTier:
    for resolver in tier_resolvers:
        ref = await resolver(session, user_id)
        if ref is not None:
            try:
                return EffectiveTier(await find_tier(session, ref), "subscription")
            except TierNotFound:
                continue
    assigned = await session.scalar(
        select(Tier).join(UserTier, UserTier.tier_id == Tier.id).where(UserTier.user_id == user_id)
    )
    if assigned is not None:
        return EffectiveTier(assigned, "assigned")
    return EffectiveTier(await default_tier(session), "default")


async def effective_tier(session: AsyncSession, user_id: int) -> Tier:
    return (await resolve_tier(session, user_id)).tier


async def assign_tier(session: AsyncSession, user_id: int, ref: int | str | None) -> EffectiveTier:
    """Give a user a tier (None: back to the default); a subscription's tier still wins."""
    await users_service.get_user(session, user_id)
    row = await session.get(UserTier, user_id)
    if ref is None:
        if row is not None:
            await session.delete(row)
    else:
        tier = await find_tier(session, ref)
        if row is None:
            session.add(UserTier(user_id=user_id, tier_id=tier.id))
        else:
            row.tier_id = tier.id
            row.assigned_at = datetime.now(UTC)
    await session.flush()
    _invalidate_limits(session)
    return await resolve_tier(session, user_id)


async def users_tier(session: AsyncSession, user_id: int) -> EffectiveTier:
    await users_service.get_user(session, user_id)
    return await resolve_tier(session, user_id)


# --- limits and quotas -----------------------------------------------------------------


async def _exempt(session: AsyncSession, user_id: int) -> bool:
    user = await users_service.get_user(session, user_id)
    return user.role == "admin"


async def limits_of(session: AsyncSession, user_id: int) -> tuple[str, dict[str, int | None]]:
    """(tier name, {metric: monthly limit or None}); every limit None for an administrator."""
    tier = await effective_tier(session, user_id)
    if await _exempt(session, user_id):
        return tier.name, dict.fromkeys(METRICS)
    return tier.name, {metric: getattr(tier, metric) for metric in METRICS}


async def check_quota(
    session: AsyncSession, user_id: int, metric: str, amount: int = 1, *, used: int | None = None
) -> None:
    """Raise when `amount` more of `metric` would pass the user's tier limit this month
    (storage: in total). `used` is what the caller counted; without it a registered counter
    counts. Over the limit: 429 `plan_quota_exceeded` (storage: 403 `quota_exceeded`)."""
    if metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r}")
    tier_name, limits = await limits_of(session, user_id)
    limit = limits[metric]
    if limit is None:
        return
    now = datetime.now(UTC)
    if used is None:
        counter = usage_counters.get(metric)
        if counter is None:
            raise ValueError(f"no usage counter is registered for {metric!r}; pass used=")
        used = await counter(session, user_id, month_start(now))
    if used + amount <= limit:
        return
    if metric == "storage_bytes":
        raise StorageQuotaExceeded(
            f"Storage quota exceeded: the {tier_name} tier allows {limit} bytes per user; "
            "delete files to make room"
        )
    raise quota_error(tier_name, metric, limit, now)
