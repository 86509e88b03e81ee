"""Conversations: scoped lookups, create/rename/move/delete, the lists other domains and
surfaces read, and the counts of the admin metrics. This module is the domain's API for other
domains; the sidebar's list and search live in `listing.py`, messages in `messages.py`,
exports in `export.py` and generation in `generation.py`.

Projects sit above conversations: they read conversations through this module, and register
the check that a conversation may be put in a project (`register_project_check`), so that
this domain never imports theirs."""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import Integer, bindparam, func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from atrium.activity import service as activity_service
from atrium.auth.principal import Principal
from atrium.conversations import listing_cache
from atrium.conversations import messages as messages_store
from atrium.conversations.listing import MAX_PAGE, NEWEST_FIRST, SUMMARY_COLUMNS, SummaryRow
from atrium.conversations.messages import add_message, messages_page
from atrium.conversations.tables import DEFAULT_TITLE, Conversation, Message
from atrium.db import utcnow
from atrium.errors import NotFound
from atrium.prepared import Prepared
from atrium.reader import Reader

__all__ = [
    "DEFAULT_TITLE",
    "ConversationNotFound",
    "ConversationRecord",
    "MessageRecord",
    "SummaryRow",
    "add_message",
    "create",
    "delete",
    "get_owned",
    "list_offset",
    "messages_page",
    "post_message",
    "project_removed",
    "register_project_check",
    "summaries_by_project",
    "summary_owned",
    "totals",
    "update",
]


class ConversationRecord(Protocol):
    """A conversation as this module hands it out (an object or a row of its summary)."""

    id: int
    title: str
    project_id: int | None
    model_id: str | None
    message_count: int
    created_at: datetime
    updated_at: datetime


class MessageRecord(Protocol):
    id: int
    role: str
    content: str
    model: str | None
    thinking_content: str | None
    thinking_duration_ms: int | None
    created_at: datetime


@dataclass(slots=True)
class NewConversation:
    """A conversation just created, as it was written (no ORM object: nothing reads it back)."""

    id: int
    user_id: int
    project_id: int | None
    title: str
    model_id: str | None
    message_count: int
    created_at: datetime
    updated_at: datetime


class ConversationNotFound(NotFound):
    code = "conversation_not_found"
    detail = "Conversation not found"


# (session, caller, project_id, owner_id): return if the caller may write to the project and
# `owner_id` owns it, else raise the projects domain's not-found error.
ProjectCheck = Callable[[AsyncSession, Principal, int, int], Awaitable[None]]
_project_checks: list[ProjectCheck] = []


def register_project_check(check: ProjectCheck) -> None:
    """Called by the projects domain when it is imported."""
    _project_checks[:] = [check]


async def _check_project(
    session: AsyncSession, principal: Principal, project_id: int, owner_id: int
) -> None:
    if not _project_checks:
        raise RuntimeError("no project check registered: import atrium.projects.service")
    await _project_checks[0](session, principal, project_id, owner_id)


# Prebuilt (every message posted looks its conversation up): no statement built per call.
_BY_ID = select(Conversation).where(Conversation.id == bindparam("conversation_id"))
_OWN_BY_ID = _BY_ID.where(Conversation.user_id == bindparam("user_id"))


async def get_owned(
    session: AsyncSession, principal: Principal, conversation_id: int, action: str = "read"
) -> Conversation:
    params = {"conversation_id": conversation_id}
    statement = _BY_ID
    if not principal.reaches("conversations", action):
        statement, params["user_id"] = _OWN_BY_ID, principal.user_id
    conversation = await session.scalar(statement, params)
    if conversation is None:
        raise ConversationNotFound()
    return conversation


# One prebuilt INSERT returning the id: the ORM's unit of work (and a statement compiled per
# flush) cost more than the row on the hottest write.
_NEW_COLUMNS = (
    "user_id",
    "project_id",
    "title",
    "model_id",
    "message_count",
    "created_at",
    "updated_at",
)
_table = Conversation.__table__
_INSERT = Prepared(
    insert(_table)
    .values({name: bindparam(name, type_=_table.c[name].type) for name in _NEW_COLUMNS})
    .returning(_table.c.id)
)


async def create(
    session: AsyncSession,
    principal: Principal,
    *,
    title: str | None,
    project_id: int | None = None,
    model_id: str | None = None,
) -> ConversationRecord:
    if project_id is not None:
        await _check_project(session, principal, project_id, principal.user_id)
    now = utcnow()
    values = {
        "user_id": principal.user_id,
        "project_id": project_id,
        "title": title or DEFAULT_TITLE,
        "model_id": model_id or None,
        "message_count": 0,
        "created_at": now,
        "updated_at": now,
    }
    connection = await session.connection()
    ident = await _INSERT.scalar(connection, values)
    conversation = NewConversation(id=ident, **values)
    listing_cache.changed(session, principal.user_id)
    what = f"conversation '{conversation.title}'"
    await activity_service.created(
        session, principal, "inference", "conversation", conversation.id, what
    )
    return conversation


async def post_message(
    session: AsyncSession,
    principal: Principal,
    conversation_id: int,
    *,
    role: str,
    content: str,
    thinking_content: str | None = None,
    thinking_duration_ms: int | None = None,
) -> MessageRecord:
    """Store a message as given (no generation) in a conversation the caller may write to."""
    owner = None if principal.reaches("conversations", "write") else principal.user_id
    message = await messages_store.post_message(
        session,
        conversation_id,
        owner,
        role=role,
        content=content,
        thinking_content=thinking_content,
        thinking_duration_ms=thinking_duration_ms,
    )
    if message is None:
        raise ConversationNotFound()
    return message


async def update(
    session: AsyncSession, principal: Principal, conversation_id: int, changes: dict[str, Any]
) -> Conversation:
    """Rename (`title`), move (`project_id`, None takes it out of its project), `model_id`."""
    conversation = await get_owned(session, principal, conversation_id, "write")
    if "title" in changes:
        conversation.title = changes["title"] or DEFAULT_TITLE
    if "project_id" in changes:
        project_id = changes["project_id"]
        if project_id is not None:
            await _check_project(session, principal, project_id, conversation.user_id)
        conversation.project_id = project_id
    if "model_id" in changes:
        conversation.model_id = changes["model_id"] or None
    conversation.updated_at = utcnow()
    await session.flush()
    listing_cache.changed(session, conversation.user_id)
    return conversation


async def delete(session: AsyncSession, principal: Principal, conversation_id: int) -> None:
    conversation = await get_owned(session, principal, conversation_id, "delete")
    await session.delete(conversation)
    await session.flush()
    listing_cache.changed(session, conversation.user_id)


def project_removed(session: AsyncSession, owner_id: int) -> None:
    """A project of `owner_id` is deleted in this transaction, its conversations with it (the
    database cascades): their lists change once it commits."""
    listing_cache.changed(session, owner_id)


# --- reads for routes and other domains: prebuilt statements on a connection, summary rows ---

_conversation = Conversation.__table__.c
_summary_by_id = select(*SUMMARY_COLUMNS).where(_conversation.id == bindparam("conversation_id"))
_SUMMARY_BY_ID = Prepared(_summary_by_id)
_OWN_SUMMARY_BY_ID = Prepared(_summary_by_id.where(_conversation.user_id == bindparam("user_id")))
_OFFSET_PAGE = Prepared(
    select(*SUMMARY_COLUMNS)
    .where(_conversation.user_id == bindparam("user_id"))
    .order_by(*NEWEST_FIRST)
    .limit(bindparam("size", type_=Integer))
    .offset(bindparam("skip", type_=Integer))
)
_ranked = (
    select(
        *SUMMARY_COLUMNS,
        func.row_number()
        .over(partition_by=_conversation.project_id, order_by=NEWEST_FIRST)
        .label("rank"),
    )
    .where(_conversation.project_id.in_(bindparam("project_ids", expanding=True)))
    .subquery()
)
_BY_PROJECT = (
    select(*(_ranked.c[column.name] for column in SUMMARY_COLUMNS))
    .where(_ranked.c.rank <= bindparam("per_project", type_=Integer))
    .order_by(_ranked.c.project_id, _ranked.c.rank)
)
# One project (a project's page): no ranking, and no list parameter, so it is prepared.
_OF_ONE_PROJECT = Prepared(
    select(*SUMMARY_COLUMNS)
    .where(_conversation.project_id == bindparam("project_id"))
    .order_by(*NEWEST_FIRST)
    .limit(bindparam("per_project", type_=Integer))
)


async def summary_owned(reader: Reader, principal: Principal, conversation_id: int) -> SummaryRow:
    """The summary row of a conversation the caller may read (`get_owned` without the ORM)."""
    params = {"conversation_id": conversation_id}
    statement = _SUMMARY_BY_ID
    if not principal.reaches("conversations", "read"):
        statement, params["user_id"] = _OWN_SUMMARY_BY_ID, principal.user_id
    row = await reader.first(statement, params)
    if row is None:
        raise ConversationNotFound()
    return SummaryRow._make(row)


async def list_offset(
    reader: Reader, principal: Principal, *, limit: int, offset: int
) -> list[SummaryRow]:
    """Vault's form: limit/offset, most recently active first (summary rows, no ORM)."""
    params = {"user_id": principal.user_id, "size": limit, "skip": offset}
    return [SummaryRow._make(row) for row in await reader.all(_OFFSET_PAGE, params)]


async def summaries_by_project(
    reader: Reader, project_ids: list[int], per_project: int = MAX_PAGE
) -> dict[int, list[SummaryRow]]:
    """Each project's conversations (summary rows), most recently active first, at most
    `per_project` each."""
    if not project_ids:
        return {}
    if len(project_ids) == 1:
        statement, params = _OF_ONE_PROJECT, {"project_id": project_ids[0]}
    else:
        statement, params = _BY_PROJECT, {"project_ids": project_ids}
    params["per_project"] = per_project
    grouped: dict[int, list[SummaryRow]] = {}
    for row in map(SummaryRow._make, await reader.all(statement, params)):
        grouped.setdefault(row.project_id, []).append(row)
    return grouped


async def totals(session: AsyncSession) -> tuple[int, int]:
    """(conversations, messages) on the whole instance, in one query."""
    row = (
        await session.execute(
            select(
                select(func.count()).select_from(Conversation).scalar_subquery(),
                select(func.count()).select_from(Message).scalar_subquery(),
            )
        )
    ).one()
    return int(row[0]), int(row[1])
