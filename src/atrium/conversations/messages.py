"""Messages: pages oldest first, a turn's history in one prebuilt query, attachments, and
storing messages with the conversation's count, activity time and title in one update."""

from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import Any, NamedTuple

from sqlalchemy import Insert, Integer, Select, bindparam, insert, select
from sqlalchemy import update as sql_update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from atrium.conversations import listing_cache
from atrium.conversations.schemas import MessageRead, message_fields
from atrium.conversations.tables import DEFAULT_TITLE, Conversation, Message, MessageFile
from atrium.db import utcnow
from atrium.files import service as files_service
from atrium.files.service import FileRecord

MAX_PAGE = 1000
TITLE_CHARS = 60


def title_from(content: str) -> str:
    """The first line of the first user message, cut at a word near 60 characters."""
    line = " ".join(content.split())
    if len(line) <= TITLE_CHARS:
        return line or DEFAULT_TITLE
    cut = line.rfind(" ", TITLE_CHARS // 2, TITLE_CHARS)
    return line[: cut if cut > 0 else TITLE_CHARS].rstrip() + "..."


# --- reading ---------------------------------------------------------------------------------


class MessageRow(NamedTuple):
    """A stored message as the read paths need it (`listing.SummaryRow` says why a tuple)."""

    id: int
    role: str
    content: str
    model: str | None
    incomplete: bool
    meta: dict[str, Any] | None
    thinking_content: str | None
    thinking_duration_ms: int | None
    created_at: datetime


_message = Message.__table__.c
_message_file = MessageFile.__table__


def _messages_with_files(*, before: bool) -> Select[Any]:
    """The latest `size` messages (before the id `before`), oldest first, each as many rows as
    it has attachments (`file_id` null when none): one statement for a page."""
    newest = select(*(_message[name] for name in MessageRow._fields)).where(
        _message.conversation_id == bindparam("conversation_id")
    )
    if before:
        newest = newest.where(_message.id < bindparam("before"))
    page = newest.order_by(_message.id.desc()).limit(bindparam("size", type_=Integer)).subquery()
    return (
        select(page, _message_file.c.file_id)
        .outerjoin(_message_file, _message_file.c.message_id == page.c.id)
        .order_by(page.c.id, _message_file.c.position)
    )


_PAGES = {before: _messages_with_files(before=before) for before in (False, True)}


@dataclass(slots=True)
class StoredMessage:
    """A message and the ids of its attached files, in order."""

    row: MessageRow
    file_ids: list[int]


async def messages_page(
    connection: AsyncConnection,
    conversation_id: int,
    *,
    limit: int | None = None,
    before: int | None = None,
) -> tuple[list[StoredMessage], int | None]:
    """Up to `limit` messages before `before` (a message id), oldest first, and the id to ask
    `before` for the page older than this one."""
    size = min(limit or MAX_PAGE, MAX_PAGE)
    params = {"conversation_id": conversation_id, "size": size + 1}
    if before is not None:
        params["before"] = before
    messages: list[StoredMessage] = []
    for *fields, file_id in await connection.execute(_PAGES[before is not None], params):
        if not messages or messages[-1].row.id != fields[0]:
            messages.append(StoredMessage(MessageRow._make(fields), []))
        if file_id is not None:
            messages[-1].file_ids.append(file_id)
    if len(messages) <= size:
        return messages, None
    del messages[0]  # the one that shows an older page exists
    return messages, messages[0].row.id


async def read_page(
    connection: AsyncConnection,
    conversation_id: int,
    files_key: bytes,
    *,
    limit: int | None = None,
    before: int | None = None,
) -> tuple[list[dict[str, Any]], int | None]:
    """`messages_page` as clients see it (`MessageRead`'s JSON fields), with each message's
    attachments and their freshly signed links."""
    messages, older = await messages_page(connection, conversation_id, limit=limit, before=before)
    wanted = [file_id for message in messages for file_id in message.file_ids]
    files = await files_service.fields_by_id(connection, files_key, wanted) if wanted else {}
    shaped = [message_fields(m.row, [files[f] for f in m.file_ids if f in files]) for m in messages]
    return shaped, older


async def attachments_of(
    session: AsyncSession, message_ids: list[int]
) -> dict[int, list[FileRecord]]:
    if not message_ids:
        return {}
    links = (
        await session.execute(
            select(MessageFile.message_id, MessageFile.file_id)
            .where(MessageFile.message_id.in_(message_ids))
            .order_by(MessageFile.message_id, MessageFile.position)
        )
    ).all()
    if not links:
        return {}
    files = await files_service.get_many(session, [file_id for _, file_id in links])
    grouped: dict[int, list[FileRecord]] = {}
    for message_id, file_id in links:
        if file_id in files:
            grouped.setdefault(message_id, []).append(files[file_id])
    return grouped


def message_read(files_key: bytes, message: Message, files: list[FileRecord]) -> MessageRead:
    """The message as seed 004 shows it; its attachments with freshly signed links."""
    meta = message.meta or {}
    return MessageRead(
        id=message.id,
        role=message.role,
        content=message.content,
        timestamp=message.created_at,
        attachments=[files_service.describe(files_key, file) for file in files],
        model=message.model,
        incomplete=message.incomplete,
        warnings=list(meta.get("warnings") or []),
    )


@dataclass(slots=True)
class HistoryEntry:
    id: int
    role: str
    content: str
    files: list[FileRecord]


_recent = (
    select(_message.id, _message.role, _message.content)
    .where(_message.conversation_id == bindparam("conversation_id"))
    .order_by(_message.id.desc())
    .limit(bindparam("size", type_=Integer))
    .subquery()
)
_HISTORY = (
    select(_recent, _message_file.c.file_id)
    .outerjoin(_message_file, _message_file.c.message_id == _recent.c.id)
    .order_by(_recent.c.id, _message_file.c.position)
)


async def history(session: AsyncSession, conversation_id: int, limit: int) -> list[HistoryEntry]:
    """The latest `limit` messages, oldest first, with their attachments, in one prebuilt
    query of plain rows (no ORM objects): a long conversation sends hundreds of them per turn."""
    params = {"conversation_id": conversation_id, "size": limit}
    rows = (await (await session.connection()).execute(_HISTORY, params)).all()
    files = await files_service.get_many(
        session, [row.file_id for row in rows if row.file_id is not None]
    )
    entries: list[HistoryEntry] = []
    for row in rows:
        if entries and entries[-1].id == row.id:
            entry = entries[-1]
        else:
            entry = HistoryEntry(row.id, row.role, row.content, [])
            entries.append(entry)
        if row.file_id in files:
            entry.files.append(files[row.file_id])
    return entries


# --- storing ---------------------------------------------------------------------------------


@dataclass
class NewMessage:
    role: str
    content: str
    model: str | None = None
    thinking_content: str | None = None
    thinking_duration_ms: int | None = None
    incomplete: bool = False
    meta: dict[str, Any] | None = None
    files: list[FileRecord] = field(default_factory=list)
    created_at: datetime | None = None


async def add_message(session: AsyncSession, conversation: Conversation, **fields: Any) -> Message:
    """Store one message (the fields of `NewMessage`)."""
    return (await add_messages(session, conversation, [NewMessage(**fields)]))[0]


MESSAGE_COLUMNS = (
    "conversation_id",
    "role",
    "content",
    "model",
    "thinking_content",
    "thinking_duration_ms",
    "incomplete",
    "meta",
    "created_at",
)


@lru_cache(maxsize=16)
def _insert_messages(rows: int) -> Insert:
    """A prebuilt multi-row INSERT of `rows` messages (parameters `<column>_<row>`) returning
    their ids: the ORM would send one statement per row to learn each id."""
    table = Message.__table__
    values = [
        {name: bindparam(f"{name}_{row}", type_=table.c[name].type) for name in MESSAGE_COLUMNS}
        for row in range(rows)
    ]
    return insert(table).values(values).returning(table.c.id)


_conversation = Conversation.__table__.c
_TOUCH = (
    sql_update(Conversation.__table__)
    .where(_conversation.id == bindparam("conversation_ident"))
    .values(
        message_count=_conversation.message_count + bindparam("added", type_=Integer),
        updated_at=bindparam("moment", type_=_conversation.updated_at.type),
    )
)
_TOUCH_AND_TITLE = _TOUCH.values(title=bindparam("new_title", type_=_conversation.title.type))


async def add_messages(
    session: AsyncSession, conversation: Conversation, new: list[NewMessage]
) -> list[Message]:
    """Store messages in order, with one conversation update: the count, the activity time
    and, from a user message, the title of a conversation that has the default one."""
    now = utcnow()
    values = [
        {
            "conversation_id": conversation.id,
            "role": item.role,
            "content": item.content,
            "model": item.model,
            "thinking_content": item.thinking_content,
            "thinking_duration_ms": item.thinking_duration_ms,
            "incomplete": item.incomplete,
            "meta": item.meta or None,
            "created_at": item.created_at or now,
        }
        for item in new
    ]
    # Ids grow in insertion order, so the sorted ids pair with `new` in order.
    connection = await session.connection()
    params = {f"{name}_{row}": item[name] for row, item in enumerate(values) for name in item}
    ids = sorted(await connection.scalars(_insert_messages(len(values)), params))
    messages = [Message(id=ident, **row) for ident, row in zip(ids, values, strict=True)]
    links = [
        {"message_id": message.id, "file_id": file.id, "position": position}
        for message, item in zip(messages, new, strict=True)
        for position, file in enumerate(item.files)
    ]
    if links:
        await connection.execute(insert(MessageFile.__table__), links)
    touch: dict[str, Any] = {
        "conversation_ident": conversation.id,
        "added": len(new),
        "moment": now,
    }
    statement = _TOUCH
    first_question = next((item for item in new if item.role == "user"), None)
    if first_question is not None and conversation.title in ("", DEFAULT_TITLE):
        statement, touch["new_title"] = _TOUCH_AND_TITLE, title_from(first_question.content)
    await connection.execute(statement, touch)
    listing_cache.changed(session, conversation.user_id)
    set_committed_value(conversation, "message_count", conversation.message_count + len(new))
    set_committed_value(conversation, "updated_at", now)
    if "new_title" in touch:
        set_committed_value(conversation, "title", touch["new_title"])
    return messages
