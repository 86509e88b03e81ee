"""A user's own billing: plan, current period, usage this period, limits and invoices."""

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from atrium.billing import periods
from atrium.billing import service as billing_service
from atrium.db import utcnow
from atrium.llm import service as llm_service


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
    rows = await llm_service.metered_usage(session, user_id, start, end)
    input_tokens = sum(int(row["input_tokens"]) for row in rows)
    output_tokens = sum(int(row["output_tokens"]) for row in rows)
    # the tiers domain, when present, provides the limits (it depends on billing, not back)
    tier_limits = getattr(state, "tier_limits_of", None)
    limits = await tier_limits(session, user_id) if tier_limits is not None else None
    invoices = await billing_service.recent_invoices(session, customer.id) if customer else []
    return {
        "customer": customer,
        "subscription": subscription,
        "plan": plan,
        "tier": plan.tier if plan is not None else None,
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
