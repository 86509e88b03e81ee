"""A user's own billing: plan, current period, usage this period, limits and invoices."""

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from atrium.billing import periods
from atrium.billing import service as billing_service
from atrium.db import utcnow
from atrium.tiers import service as tiers_service
from atrium.tiers.errors import TierNotFound
from atrium.usage import service as usage_service


async def _limits(session: AsyncSession, user_id: int) -> dict[str, Any] | None:
    """The monthly limits of the user's tier (None when no tier is defined)."""
    try:
        found = await tiers_service.resolve_tier(session, user_id)
    except TierNotFound:
        return None
    names = ("files_scanned", "llm_tokens", "requests", "storage_bytes")
    return {
        "tier": found.tier.name,
        "source": found.source,
        **{name: getattr(found.tier, name) for name in names},
    }


async def summary(session: AsyncSession, state: Any, user_id: int) -> dict[str, Any]:
    now = utcnow()
    found = await billing_service.active_subscription_of_user(session, user_id, now)
    if found is not None:
        sub, plan, customer = found
        start, end = periods.period_around(sub.started_at, plan.interval, now)
        subscription = billing_service.subscription_read(sub, plan, now)
    else:
        plan = subscription = None
        customer = await billing_service.customer_of_user(session, user_id)
        start, end = periods.calendar_month(now)
    rows = await usage_service.metered_usage(session, user_id, start, end)
    input_tokens = sum(int(row["input_tokens"]) for row in rows)
    output_tokens = sum(int(row["output_tokens"]) for row in rows)
    limits = await _limits(session, user_id)
    invoices = await billing_service.recent_invoices(session, customer.id) if customer else []
    return {
        "customer": customer,
        "subscription": subscription,
        "plan": plan,
        "tier": limits["tier"] if limits else (plan.tier if plan is not None else None),
        "period_start": start,
        "period_end": end,
        "usage": {
            "requests": sum(int(row["calls"]) for row in rows),
            "input_tokens": input_tokens,
            "output_tokens": output_tokens,
            "tokens": input_tokens + output_tokens,
            "cost_usd": round(sum(float(row["cost_usd"]) for row in rows), 6),
        },
        "limits": limits,
        "invoices": invoices,
    }
