"""Cloud events for `/ws/client`: a row per event, written in the transaction of the change it
reports (account connected, discovery progress, waste found, approval asked, ...), addressed
to the account's owner. After the commit the bus wakes topic `cloud:user:{id}`; the socket
then reads the rows after the last one it sent, so an event is never lost to a missed wake-up.
"""

import logging
from datetime import timedelta
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from atrium.cloud.tables import CloudEvent
from atrium.db import after_commit, utcnow
from atrium.jobs import service as jobs_service

log = logging.getLogger("atrium.cloud")
PAGE = 200


def topic(user_id: int) -> str:
    return f"cloud:user:{user_id}"


async def emit(
    session: AsyncSession,
    *,
    user_id: int,
    type: str,
    account_id: int | None = None,
    **data: Any,
) -> None:
    """Add the event to the session's transaction; the owner's socket is woken after commit
    (request sessions run the hook themselves; a job's session runs it with
    `db.commit`)."""
    session.add(CloudEvent(user_id=user_id, account_id=account_id, type=type, data=data))
    if session.info.get("cloud_wake") is None:
        session.info["cloud_wake"] = set()
        after_commit(session, lambda: _wake(session))
    session.info["cloud_wake"].add(user_id)


async def _wake(session: AsyncSession) -> None:
    users = session.info.pop("cloud_wake", set())
    runtime = session.info.get(jobs_service.RUNTIME_KEY)
    if runtime is None:  # no engine in this process: sockets fall back to polling the rows
        return
    for user_id in users:
        try:
            await runtime.bus.publish(topic(user_id), {"type": "cloud_event"})
        except Exception:  # the rows are written; a socket catches up on its next poll
            log.warning("bus publish failed", exc_info=True)


async def after(session: AsyncSession, user_id: int, after_id: int) -> list[CloudEvent]:
    rows = await session.scalars(
        select(CloudEvent)
        .where(CloudEvent.user_id == user_id, CloudEvent.id > after_id)
        .order_by(CloudEvent.id)
        .limit(PAGE)
    )
    return list(rows)


async def last_id(session: AsyncSession, user_id: int) -> int:
    found = await session.scalar(
        select(func.max(CloudEvent.id)).where(CloudEvent.user_id == user_id)
    )
    return int(found or 0)


def message(event: CloudEvent) -> dict[str, Any]:
    return {
        "id": event.id,
        "type": event.type,
        "account_id": None if event.account_id is None else str(event.account_id),
        "data": event.data,
        "timestamp": event.created_at.isoformat().replace("+00:00", "Z"),
    }


async def purge(session: AsyncSession, days: int) -> int:
    """Events older than `days` (the stream is live; the row only bridges a reconnect)."""
    result = await session.execute(
        delete(CloudEvent).where(CloudEvent.created_at < utcnow() - timedelta(days=days))
    )
    return result.rowcount or 0
