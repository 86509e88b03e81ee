"""Webhooks: a user's URLs that receive signed JSON when their audits end.

Each event becomes one `webhook_delivery` row per subscribed webhook, written in the
transaction of the change; `Deliverer` sends due rows with an HMAC-SHA256 signature and retries
failures with exponential back-off until `MAX_ATTEMPTS`, recording each outcome on the row.
Signature: `X-Atrium-Signature: sha256=<hex HMAC of "<X-Atrium-Timestamp>.<body>">`.
"""

import secrets as token_source
from datetime import datetime, timedelta

from cryptography.fernet import MultiFernet
from sqlalchemy import ColumnElement, select, true
from sqlalchemy.ext.asyncio import AsyncSession

from atrium.auth.principal import Principal
from atrium.db import after_commit, utcnow
from atrium.errors import BadRequest, NotFound
from atrium.security import ssrf
from atrium.webhooks.schemas import EVENTS, WebhookCreate
from atrium.webhooks.tables import Webhook, WebhookDelivery

MAX_PAGE = 1000
MAX_ATTEMPTS = 5


class WebhookNotFound(NotFound):
    code = "webhook_not_found"
    detail = "Webhook not found"


class InvalidWebhook(BadRequest):
    code = "invalid_webhook"


def _visible(principal: Principal, action: str) -> ColumnElement[bool]:
    if principal.reaches("audits", action):
        return true()
    return Webhook.user_id == principal.user_id


async def get_owned(
    session: AsyncSession, principal: Principal, webhook_id: int, action: str = "read"
) -> Webhook:
    webhook = await session.scalar(
        select(Webhook).where(Webhook.id == webhook_id, _visible(principal, action))
    )
    if webhook is None:
        raise WebhookNotFound()
    return webhook


async def create(
    session: AsyncSession, principal: Principal, fernet: MultiFernet, data: WebhookCreate
) -> tuple[Webhook, str]:
    """The webhook and its signing secret (returned once, stored encrypted)."""
    try:
        url = ssrf.validate_base_url(data.url)
        if not principal.is_admin:
            await ssrf.resolve_checked(url, allow_private=False)
    except (ValueError, ssrf.BlockedAddress) as exc:
        message = str(exc).replace("point a provider at", "send webhooks to")
        raise InvalidWebhook(message) from exc
    unknown = sorted(set(data.events) - set(EVENTS))
    if unknown:
        raise InvalidWebhook(f"Unknown events {unknown}; choose among {list(EVENTS)}")
    secret = data.secret or token_source.token_urlsafe(32)
    webhook = Webhook(
        user_id=principal.user_id,
        url=url,
        events=sorted(set(data.events)),
        secret_encrypted=fernet.encrypt(secret.encode()),
        allow_private=principal.is_admin,
    )
    session.add(webhook)
    await session.flush()
    return webhook, secret


async def list_own(
    session: AsyncSession, principal: Principal, *, limit: int, after_id: int | None
) -> tuple[list[Webhook], int | None]:
    query = select(Webhook).where(Webhook.user_id == principal.user_id)
    if after_id is not None:
        query = query.where(Webhook.id > after_id)
    size = min(limit, MAX_PAGE)
    rows = list(await session.scalars(query.order_by(Webhook.id).limit(size + 1)))
    if len(rows) > size:
        return rows[:size], rows[size - 1].id
    return rows, None


async def delete(session: AsyncSession, principal: Principal, webhook_id: int) -> None:
    webhook = await get_owned(session, principal, webhook_id, "delete")
    await session.delete(webhook)
    await session.flush()


async def deliveries(
    session: AsyncSession, principal: Principal, webhook_id: int, *, limit: int
) -> list[WebhookDelivery]:
    """The webhook's deliveries, newest first."""
    await get_owned(session, principal, webhook_id)
    rows = await session.scalars(
        select(WebhookDelivery)
        .where(WebhookDelivery.webhook_id == webhook_id)
        .order_by(WebhookDelivery.id.desc())
        .limit(min(limit, MAX_PAGE))
    )
    return list(rows)


async def enqueue(
    session: AsyncSession, user_id: int, event: str, payload: dict, *, wake=None
) -> int:
    """One pending delivery per active webhook of the user that subscribes to `event`."""
    hooks = await session.scalars(
        select(Webhook).where(Webhook.user_id == user_id, Webhook.active.is_(True))
    )
    count = 0
    for webhook in hooks:
        if event in (webhook.events or []):
            session.add(
                WebhookDelivery(
                    webhook_id=webhook.id,
                    event=event,
                    payload=payload,
                    status="pending",
                    attempts=0,
                    next_attempt_at=utcnow(),
                )
            )
            count += 1
    if count and wake is not None:
        after_commit(session, wake)
    return count


def backoff(attempts: int, base_seconds: float) -> timedelta:
    """Wait before attempt `attempts + 1`: base, 2x base, 4x base, ..."""
    return timedelta(seconds=base_seconds * 2 ** max(0, attempts - 1))


def next_attempt(now: datetime, attempts: int, base_seconds: float) -> datetime | None:
    return None if attempts >= MAX_ATTEMPTS else now + backoff(attempts, base_seconds)
