"""Embedded invoicing: closes the due periods of Atrium's own subscriptions and issues their
invoices - the plan fee in advance for the period that starts, the metered LLM usage of the
period that ended. Idempotent: a subscription remembers the first period not yet invoiced,
and (subscription, period start) is unique, so a second run issues nothing twice."""

import logging
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy import and_, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from atrium.billing import periods, rollups
from atrium.billing.tables import (
    BillingCustomer,
    BillingInvoice,
    BillingInvoiceLine,
    BillingPlan,
    BillingSubscription,
)
from atrium.db import utcnow
from atrium.usage import service as usage_service

log = logging.getLogger("atrium.billing.invoicing")
Sub = BillingSubscription
BATCH = 200
KIND = "billing.invoice"
USAGE_CURRENCY = "USD"  # the price table's currency


def usd_to_cents(amount: float) -> int:
    return int(Decimal(str(amount)).scaleb(2).quantize(Decimal(1), rounding=ROUND_HALF_UP))


async def settle_statuses(session: AsyncSession, now: datetime) -> int:
    """Atrium subscriptions whose start or scheduled end has passed take that status."""
    started = await session.execute(
        update(Sub)
        .where(Sub.source == "atrium", Sub.status == "pending", Sub.started_at <= now)
        .values(status="active", updated_at=now)
    )
    ended = await session.execute(
        update(Sub)
        .where(Sub.source == "atrium", Sub.status == "active", Sub.terminated_at <= now)
        .values(status="terminated", updated_at=now)
    )
    return started.rowcount + ended.rowcount


def _due(now: datetime):
    ended = and_(Sub.terminated_at.is_not(None), Sub.terminated_at <= now)
    return and_(
        Sub.source == "atrium",
        Sub.status != "canceled",
        Sub.closed_at.is_(None),
        Sub.started_at <= now,
        or_(Sub.invoiced_until.is_(None), Sub.invoiced_until <= now, ended),
    )


async def _usage_lines(
    session: AsyncSession, user_id: int | None, start: datetime, end: datetime, currency: str
) -> list[dict[str, Any]]:
    if user_id is None or end <= start:
        return []
    lines = []
    for row in await usage_service.metered_usage(session, user_id, start, end):
        tokens = int(row["input_tokens"]) + int(row["output_tokens"])
        if tokens == 0 and not row["cost_usd"]:
            continue
        properties = {
            "provider": row["provider"],
            "model": row["model"],
            "calls": int(row["calls"]),
            "input_tokens": int(row["input_tokens"]),
            "output_tokens": int(row["output_tokens"]),
            "cost_usd": float(row["cost_usd"]),
            "from": start.isoformat(),
            "to": end.isoformat(),
        }
        # usage is priced in USD; another currency is never converted silently
        priced = currency == USAGE_CURRENCY
        properties["priced"] = priced
        lines.append(
            {
                "kind": "usage",
                "description": f"LLM usage: {row['model']} via {row['provider']}"[:300],
                "units": tokens,
                "amount_cents": usd_to_cents(row["cost_usd"]) if priced else 0,
                "properties": properties,
            }
        )
    return lines


async def _issue(
    session: AsyncSession,
    sub: Sub,
    plan: BillingPlan,
    customer: BillingCustomer,
    *,
    number: str,
    key: datetime,
    issued: datetime,
    fee_period: tuple[datetime, datetime] | None,
    usage_period: tuple[datetime, datetime] | None,
) -> BillingInvoice:
    lines = []
    if fee_period is not None:
        lines.append(
            {
                "kind": "subscription",
                "description": f"{plan.name} ({plan.interval})"[:300],
                "units": 1,
                "amount_cents": plan.amount_cents,
                "properties": {
                    "plan_code": plan.code,
                    "from": fee_period[0].isoformat(),
                    "to": fee_period[1].isoformat(),
                },
            }
        )
    if usage_period is not None:
        lines += await _usage_lines(session, customer.user_id, *usage_period, plan.currency)
    fees = sum(line["amount_cents"] for line in lines)
    invoice = BillingInvoice(
        number=number,
        customer_id=customer.id,
        subscription_id=sub.id,
        issuing_date=issued.date(),
        period_start=key,
        period_end=fee_period[1] if fee_period else (usage_period[1] if usage_period else key),
        status="finalized",
        payment_status="pending",
        currency=plan.currency,
        fees_amount_cents=fees,
        taxes_amount_cents=0,
        total_amount_cents=fees,
        source="atrium",
    )
    session.add(invoice)
    await session.flush()
    session.add_all(BillingInvoiceLine(invoice_id=invoice.id, **line) for line in lines)
    return invoice


async def _invoice_subscription(
    session: AsyncSession, sub: Sub, plan: BillingPlan, customer: BillingCustomer, now: datetime
) -> list[BillingInvoice]:
    anchor, interval, end = sub.started_at, plan.interval, sub.terminated_at
    index = 0
    if sub.invoiced_until is not None:
        index = periods.period_index(anchor, interval, sub.invoiced_until)
    issued = []
    while True:
        start = periods.period_start(anchor, interval, index)
        if start > now or (end is not None and start >= end):
            break
        following = periods.period_start(anchor, interval, index + 1)
        usage = None
        if index > 0:
            usage = (periods.period_start(anchor, interval, index - 1), start)
        issued.append(
            await _issue(
                session,
                sub,
                plan,
                customer,
                number=f"ATR-{sub.id:06d}-{index + 1:04d}",
                key=start,
                issued=start,
                fee_period=(start, following),
                usage_period=usage,
            )
        )
        index += 1
        sub.invoiced_until = following
    if end is not None and end <= now:
        # the ended subscription's last period: its usage up to the end, then it is closed
        if index > 0:
            last_start = periods.period_start(anchor, interval, index - 1)
            issued.append(
                await _issue(
                    session,
                    sub,
                    plan,
                    customer,
                    number=f"ATR-{sub.id:06d}-END",
                    key=end,
                    issued=end,
                    fee_period=None,
                    usage_period=(last_start, end),
                )
            )
        sub.closed_at = now
    return issued


async def run_invoicing(
    sessions: async_sessionmaker[AsyncSession], now: datetime | None = None
) -> dict[str, int]:
    """One invoicing pass; returns what it did."""
    now = now or utcnow()
    counts = {"settled": 0, "subscriptions": 0, "invoices": 0}
    async with sessions() as session:
        counts["settled"] = await settle_statuses(session, now)
        await session.commit()
    after_id = 0
    while True:
        async with sessions() as session:
            rows = (
                await session.execute(
                    select(Sub, BillingPlan, BillingCustomer)
                    .join(BillingPlan, BillingPlan.id == Sub.plan_id)
                    .join(BillingCustomer, BillingCustomer.id == Sub.customer_id)
                    .where(_due(now), Sub.id > after_id)
                    .order_by(Sub.id)
                    .limit(BATCH)
                )
            ).all()
            if not rows:
                return counts
            after_id = rows[-1][0].id
            issued: list[BillingInvoice] = []
            for sub, plan, customer in rows:
                issued += await _invoice_subscription(session, sub, plan, customer, now)
            await rollups.refresh(
                session,
                days={invoice.issuing_date for invoice in issued},
                customer_ids={invoice.customer_id for invoice in issued},
            )
            try:
                await session.commit()
            except IntegrityError:
                # another process invoiced the same periods first: theirs stand
                await session.rollback()
                log.info("invoices of subscriptions up to %s were issued elsewhere", after_id)
                continue
            counts["subscriptions"] += len({invoice.subscription_id for invoice in issued})
            counts["invoices"] += len(issued)
