"""Usage events for Lago: each metered LLM call of a user with an active Lago subscription
becomes one outbox row (a unique `transaction_id`) after the gateway's usage batch is
committed; a sender posts due rows to Lago's `POST /api/v1/events`, retrying with back-off.
Lago refuses a transaction id it already has, so a resend after a crash is not a duplicate."""

import asyncio
import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from atrium.billing import lago
from atrium.billing.predicates import active_at
from atrium.billing.tables import BillingCustomer, BillingSubscription, BillingUsageEvent
from atrium.db import utcnow

CODE = "llm_tokens"
BATCH = 100
CONCURRENCY = 8
MAX_ATTEMPTS = 12
BASE_DELAY = timedelta(seconds=5)
MAX_DELAY = timedelta(hours=1)


async def _lago_subscriptions(
    session: AsyncSession, user_ids: set[int], moment: datetime
) -> dict[int, str]:
    rows = await session.execute(
        select(BillingCustomer.user_id, BillingSubscription.external_id)
        .join(BillingCustomer, BillingCustomer.id == BillingSubscription.customer_id)
        .where(
            BillingCustomer.user_id.in_(sorted(user_ids)),
            BillingSubscription.source == "lago",
            BillingSubscription.external_id.is_not(None),
            active_at(moment),
        )
        .order_by(BillingSubscription.started_at)
    )
    return {user_id: external_id for user_id, external_id in rows.tuples()}


async def enqueue(sessions: async_sessionmaker[AsyncSession], records: list[dict]) -> int:
    """The usage-batch hook: one outbox row per metered call of a Lago subscriber."""
    metered = [r for r in records if r.get("user_id") and r.get("status", "ok") == "ok"]
    if not metered:
        return 0
    async with sessions() as session:
        targets = await _lago_subscriptions(session, {r["user_id"] for r in metered}, utcnow())
        rows = [
            BillingUsageEvent(
                transaction_id=uuid.uuid4().hex,
                external_subscription_id=targets[record["user_id"]],
                code=CODE,
                properties={
                    "model": record.get("model", ""),
                    "provider": record.get("provider", ""),
                    "input_tokens": int(record.get("prompt_tokens") or 0),
                    "output_tokens": int(record.get("completion_tokens") or 0),
                },
                occurred_at=record["created_at"],
            )
            for record in metered
            if record["user_id"] in targets
        ]
        if rows:
            session.add_all(rows)
            await session.commit()
        return len(rows)


def wire_event(row: BillingUsageEvent) -> dict[str, Any]:
    return {
        "transaction_id": row.transaction_id,
        "external_subscription_id": row.external_subscription_id,
        "code": row.code,
        "timestamp": int(row.occurred_at.timestamp()),
        "properties": row.properties,
    }


def _already_received(status: int, body: Any) -> bool:
    # Lago: 422 {"error_details": {"transaction_id": ["value_already_exist"]}}
    details = body.get("error_details") if isinstance(body, dict) else None
    return status == 422 and "value_already_exist" in str(details)


async def _send_one(client: lago.LagoClient, row: BillingUsageEvent, now: datetime) -> str:
    try:
        response = await client.send_event(wire_event(row))
    except lago.LagoError as exc:
        return _retry(row, now, str(exc))
    try:
        body = response.json()
    except ValueError:
        body = None
    if response.status_code < 300 or _already_received(response.status_code, body):
        row.status, row.sent_at, row.last_error = "sent", now, None
        row.attempts += 1
        return "sent"
    if response.status_code in (408, 429) or response.status_code >= 500:
        return _retry(row, now, f"Lago answered {response.status_code}")
    row.attempts += 1
    row.status, row.last_error = "failed", f"Lago refused it: {response.status_code} {body}"[:2000]
    return "failed"


def _retry(row: BillingUsageEvent, now: datetime, error: str) -> str:
    row.attempts += 1
    row.last_error = error[:2000]
    if row.attempts >= MAX_ATTEMPTS:
        row.status = "failed"
        return "failed"
    row.next_attempt_at = now + min(BASE_DELAY * 2 ** (row.attempts - 1), MAX_DELAY)
    return "retry"


async def send_due(
    sessions: async_sessionmaker[AsyncSession], client: lago.LagoClient
) -> dict[str, int]:
    """Send one batch of due events; the outcome of each is committed together."""
    now = utcnow()
    counts = {"attempted": 0, "sent": 0, "retry": 0, "failed": 0}
    async with sessions() as session:
        rows = list(
            await session.scalars(
                select(BillingUsageEvent)
                .where(
                    BillingUsageEvent.status == "pending", BillingUsageEvent.next_attempt_at <= now
                )
                .order_by(BillingUsageEvent.id)
                .limit(BATCH)
            )
        )
        gate = asyncio.Semaphore(CONCURRENCY)

        async def send(row: BillingUsageEvent) -> str:
            async with gate:
                return await _send_one(client, row, now)

        for outcome in await asyncio.gather(*(send(row) for row in rows)):
            counts[outcome] += 1
        counts["attempted"] = len(rows)
        await session.commit()
    return counts
