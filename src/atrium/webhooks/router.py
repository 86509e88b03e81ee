"""`/api/v1/webhooks`: a user's webhooks for their audits, and each one's deliveries."""

from typing import Annotated

from fastapi import APIRouter, FastAPI, Query, Request, Response
from sqlalchemy.ext.asyncio import AsyncSession

from atrium.db import SessionDep
from atrium.params import IdPath
from atrium.webhooks import service as webhooks_service
from atrium.webhooks.auth import AuditsDelete, AuditsRead, AuditsWrite
from atrium.webhooks.delivery import Deliverer
from atrium.webhooks.schemas import (
    DeliveryRead,
    WebhookCreate,
    WebhookCreated,
    WebhookDeleted,
    WebhookRead,
    iso,
)
from atrium.webhooks.tables import Webhook, WebhookDelivery

router = APIRouter(prefix="/api/v1/webhooks", tags=["webhooks"])
NOT_FOUND = {404: {"description": "No such webhook, or not the caller's"}}


def _read(webhook: Webhook) -> WebhookRead:
    return WebhookRead(
        id=str(webhook.id),
        url=webhook.url,
        events=webhook.events,
        active=webhook.active,
        created_at=iso(webhook.created_at) or "",
    )


def _delivery(row: WebhookDelivery) -> DeliveryRead:
    return DeliveryRead(
        id=str(row.id),
        event=row.event,
        status=row.status,
        attempts=row.attempts,
        response_status=row.response_status,
        last_error=row.last_error,
        next_attempt_at=iso(row.next_attempt_at) if row.status == "pending" else None,
        created_at=iso(row.created_at) or "",
        delivered_at=iso(row.delivered_at),
    )


@router.post(
    "",
    response_model=WebhookCreated,
    status_code=201,
    description="Registers a URL for `audit.completed` and `audit.failed` events. Bodies are "
    "signed: `X-Atrium-Signature: sha256=HMAC(secret, X-Atrium-Timestamp + '.' + body)`.",
)
async def create_webhook(
    body: WebhookCreate, principal: AuditsWrite, session: SessionDep, request: Request
) -> WebhookCreated:
    webhook, secret = await webhooks_service.create(
        session, principal, request.app.state.secrets.fernet, body
    )
    return WebhookCreated(**_read(webhook).model_dump(), secret=secret)


@router.get("", response_model=list[WebhookRead])
async def list_webhooks(
    principal: AuditsRead,
    session: SessionDep,
    response: Response,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    cursor: Annotated[int | None, Query(ge=0, le=2**31 - 1)] = None,
) -> list[WebhookRead]:
    rows, next_after = await webhooks_service.list_own(
        session, principal, limit=limit, after_id=cursor
    )
    if next_after is not None:
        response.headers["X-Next-Cursor"] = str(next_after)
    return [_read(row) for row in rows]


@router.get("/{webhook_id}", response_model=WebhookRead, responses=NOT_FOUND)
async def read_webhook(
    webhook_id: IdPath, principal: AuditsRead, session: SessionDep
) -> WebhookRead:
    return _read(await webhooks_service.get_owned(session, principal, webhook_id))


@router.get(
    "/{webhook_id}/deliveries",
    response_model=list[DeliveryRead],
    responses=NOT_FOUND,
    description="The webhook's deliveries, newest first, with their status and attempts.",
)
async def list_deliveries(
    webhook_id: IdPath,
    principal: AuditsRead,
    session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[DeliveryRead]:
    rows = await webhooks_service.deliveries(session, principal, webhook_id, limit=limit)
    return [_delivery(row) for row in rows]


@router.delete("/{webhook_id}", response_model=WebhookDeleted, responses=NOT_FOUND)
async def delete_webhook(
    webhook_id: IdPath, principal: AuditsDelete, session: SessionDep
) -> WebhookDeleted:
    await webhooks_service.delete(session, principal, webhook_id)
    return WebhookDeleted(id=str(webhook_id))


def setup(app: FastAPI) -> None:
    state = app.state
    state.webhook_deliverer = Deliverer(state)
    if not hasattr(state, "audit_finished_hooks"):
        state.audit_finished_hooks = []

    async def on_audit_finished(user_id: int, event: str, payload: dict) -> None:
        async with state.db.sessions() as session:
            await _enqueue(session, user_id, event, payload)
            await session.commit()
        await state.webhook_deliverer.kick()

    async def _enqueue(session: AsyncSession, user_id: int, event: str, payload: dict) -> None:
        await webhooks_service.enqueue(session, user_id, event, payload)

    async def start(_app: FastAPI) -> None:
        await state.webhook_deliverer.start()

    async def stop(_app: FastAPI) -> None:
        await state.webhook_deliverer.close()

    state.audit_finished_hooks.append(on_audit_finished)
    state.startup_hooks.append(start)
    state.shutdown_hooks.append(stop)
