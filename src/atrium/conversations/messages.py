"""Messages: pages oldest first, a turn's history in one prebuilt query, attachments, and
storing messages with the conversation's count, activity time and title in one update."""

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import Integer, Select, bindparam, case, func, insert, or_, select
from sqlalchemy import update as sql_update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from atrium.conversations import listing_cache
from atrium.conversations.schemas import MessageRead, message_fields
from atrium.conversations.tables import DEFAULT_TITLE, Conversation, Message, MessageFile
from atrium.db import utcnow
from atrium.files import service as files_service
from atrium.files.service import FileRecord
from atrium.prepared import Prepared
from atrium.reader import Reader

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


_PAGES = {before: Prepared(_messages_with_files(before=before)) for before in (False, True)}


@dataclass(slots=True)
class StoredMessage:
    """A message and the ids of its attached files, in order."""

    row: MessageRow
    file_ids: list[int]


async def messages_page(
    reader: Reader,
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
    for *fields, file_id in await reader.all(_PAGES[before is not None], params):
        if not messages or messages[-1].row.id != fields[0]:
            messages.append(StoredMessage(MessageRow._make(fields), []))
        if file_id is not None:
            messages[-1].file_ids.append(file_id)
    if len(messages) <= size:
        return messages, None
    del messages[0]  # the one that shows an older page exists
    return messages, messages[0].row.id


async def read_page(
    reader: Reader,
    conversation_id: int,
    files_key: bytes,
    *,
    limit: int | None = None,
    before: int | None = None,
) -> tuple[list[dict[str, Any]], int | None]:
    """`messages_page` as clients see it (`MessageRead`'s JSON fields), with each message's
    attachments and their freshly signed links."""
    messages, older = await messages_page(reader, conversation_id, limit=limit, before=before)
    wanted = [file_id for message in messages for file_id in message.file_ids]
    files = await files_service.fields_by_id(reader, files_key, wanted) if wanted else {}
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


_message_table = Message.__table__
# One prebuilt INSERT returning the ids, compiled once: several rows go as one statement
# (SQLAlchemy's "insertmanyvalues"). A multi-VALUES insert built with `values([...])` has no
# cache key and would be compiled again on every call. The ORM would send one statement per
# row to learn each id.
_INSERT_MESSAGES = (
    insert(_message_table)
    .values({name: bindparam(name, type_=_message_table.c[name].type) for name in MESSAGE_COLUMNS})
    .returning(_message_table.c.id)
)


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
    ids = sorted(await connection.scalars(_INSERT_MESSAGES, values))
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


@dataclass(slots=True)
class PostedMessage:
    """A message just stored, as it was written (no ORM object: nothing reads it back)."""

    id: int
    role: str
    content: str
    model: str | None
    thinking_content: str | None
    thinking_duration_ms: int | None
    created_at: datetime


# Vault's post: the conversation's update comes first and is also the ownership check (no row:
# not found), so storing a message is two prebuilt statements and no read.
_title = _conversation.title
_POSTED = Prepared(
    sql_update(Conversation.__table__)
    .where(_conversation.id == bindparam("conversation_ident"))
    .values(
        message_count=_conversation.message_count + 1,
        updated_at=bindparam("moment", type_=_conversation.updated_at.type),
        title=case(
            (
                or_(_title == "", _title == DEFAULT_TITLE),
                func.coalesce(bindparam("new_title", type_=_title.type), _title),
            ),
            else_=_title,
        ),
    )
    .returning(_conversation.user_id, _conversation.model_id)
)
_POSTED_BY_OWNER = Prepared(_POSTED.statement.where(_conversation.user_id == bindparam("owner_id")))
_INSERT_MESSAGE = Prepared(_INSERT_MESSAGES)


async def post_message(
    session: AsyncSession,
    conversation_id: int,
    owner_id: int | None,
    *,
    role: str,
    content: str,
    thinking_content: str | None = None,
    thinking_duration_ms: int | None = None,
) -> PostedMessage | None:
    """Store one message in the conversation `conversation_id` (of `owner_id` when given) with
    its count, activity time and, from a user message, the default title replaced; None when
    there is no such conversation. An assistant message takes the conversation's model."""
    now = utcnow()
    touch: dict[str, Any] = {
        "conversation_ident": conversation_id,
        "moment": now,
        "new_title": title_from(content) if role == "user" else None,
    }
    statement = _POSTED
    if owner_id is not None:
        statement, touch["owner_id"] = _POSTED_BY_OWNER, owner_id
    connection = await session.connection()
    conversations = await statement.rows(connection, touch)
    if not conversations:
        return None
    user_id, model_id = conversations[0]
    row = {
        "conversation_id": conversation_id,
        "role": role,
        "content": content,
        "model": model_id if role == "assistant" else None,
        "thinking_content": thinking_content,
        "thinking_duration_ms": thinking_duration_ms,
        "incomplete": False,
        "meta": None,
        "created_at": now,
    }
    ident = await _INSERT_MESSAGE.scalar(connection, row)
    listing_cache.changed(session, user_id)
    return PostedMessage(
        ident, role, content, row["model"], thinking_content, thinking_duration_ms, now
    )
