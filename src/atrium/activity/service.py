"""The activity feed: other domains call `record` inside the transaction of their change, so
an event exists exactly when the change committed."""

from typing import Literal

from sqlalchemy import Select, bindparam, func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from atrium.activity.tables import ActivityEvent
from atrium.auth.principal import Principal
from atrium.db import utcnow
from atrium.prepared import Prepared

ActivityType = Literal["training", "upload", "inference", "user", "system"]
TYPES: tuple[str, ...] = ("training", "upload", "inference", "user", "system")


def actor_name(principal: Principal) -> str:
    return principal.full_name or principal.username


def _clip(text: str, size: int) -> str:
    return text if len(text) <= size else text[: size - 1] + "…"


async def record(
    session: AsyncSession,
    *,
    type: ActivityType,
    action: str,
    title: str,
    description: str,
    actor: Principal | None = None,
    user_id: int | None = None,
    name: str | None = None,
    subject_type: str | None = None,
    subject_id: int | str | None = None,
) -> None:
    """Add one event to the caller's transaction. The actor is `actor`, or `user_id`/`name`
    where no principal exists yet (self-registration); neither means the system."""
    session.add(
        ActivityEvent(
            user_id=actor.user_id if actor is not None else user_id,
            actor_name=_clip(actor_name(actor) if actor is not None else name or "", 200) or None,
            type=type,
            action=action,
            title=_clip(title, 200),
            description=_clip(description, 1000),
            subject_type=subject_type,
            subject_id=None if subject_id is None else str(subject_id),
        )
    )


_event = ActivityEvent.__table__
_EVENT_COLUMNS = (
    "created_at",
    "user_id",
    "actor_name",
    "type",
    "action",
    "title",
    "description",
    "subject_type",
    "subject_id",
)
_INSERT_EVENT = Prepared(
    insert(_event).values(
        {name: bindparam(name, type_=_event.c[name].type) for name in _EVENT_COLUMNS}
    )
)


async def created(
    session: AsyncSession,
    principal: Principal,
    type: ActivityType,
    subject_type: str,
    subject_id: int,
    what: str,
) -> None:
    """ "alice created conversation 'Q3 plan'": `what` is "conversation 'Q3 plan'".

    Written at once with a prebuilt statement rather than added for the next flush: creates
    are the hot writes, and the caller has just written its subject, so the transaction is
    already a write transaction."""
    noun = subject_type.replace("_", " ")
    actor = actor_name(principal)
    connection = await session.connection()
    await _INSERT_EVENT.rows(
        connection,
        {
            "created_at": utcnow(),
            "user_id": principal.user_id,
            "actor_name": _clip(actor, 200) or None,
            "type": type,
            "action": f"{subject_type}.created",
            "title": _clip(f"{noun[:1].upper()}{noun[1:]} created", 200),
            "description": _clip(f"{actor} created {what}", 1000),
            "subject_type": subject_type,
            "subject_id": str(subject_id),
        },
    )


def _visible(statement: Select, principal: Principal, type: str | None) -> Select:
    if not principal.reaches("logs", "read"):
        statement = statement.where(ActivityEvent.user_id == principal.user_id)
    if type is not None:
        statement = statement.where(ActivityEvent.type == type)
    return statement


async def feed(
    session: AsyncSession,
    principal: Principal,
    *,
    limit: int,
    offset: int = 0,
    before_id: int | None = None,
    type: str | None = None,
) -> tuple[list[ActivityEvent], int]:
    """Newest first: the caller's own events, or everyone's where the role reaches logs."""
    statement = _visible(select(ActivityEvent), principal, type)
    if before_id is not None:
        statement = statement.where(ActivityEvent.id < before_id)
    rows = await session.scalars(
        statement.order_by(ActivityEvent.id.desc()).limit(limit).offset(offset)
    )
    total = await session.scalar(
        _visible(select(func.count()).select_from(ActivityEvent), principal, type)
    )
    return list(rows.all()), int(total or 0)
