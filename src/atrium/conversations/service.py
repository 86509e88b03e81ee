"""Conversations and messages: scoped lookups, keyset lists with full-text search, storing
messages (counts, titles, attachments) and exports. Generation lives in `generation.py`."""

import base64
import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import (
    Insert,
    Integer,
    Row,
    and_,
    bindparam,
    func,
    insert,
    literal_column,
    or_,
    select,
    text,
)
from sqlalchemy import update as sql_update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased
from sqlalchemy.orm.attributes import set_committed_value

from atrium.activity import service as activity_service
from atrium.auth.principal import Principal
from atrium.conversations import listing_cache
from atrium.conversations.tables import DEFAULT_TITLE, Conversation, Message, MessageFile
from atrium.db import utcnow
from atrium.errors import BadRequest, NotFound
from atrium.files import service as files_service
from atrium.files.tables import StoredFile
from atrium.params import MAX_ID
from atrium.projects import service as projects_service
from atrium.projects.service import ProjectNotFound
from atrium.projects.tables import Project
from atrium.users.tables import User

MAX_PAGE = 1000
TITLE_CHARS = 60
ROLES = ("user", "assistant", "system")


class ConversationNotFound(NotFound):
    code = "conversation_not_found"
    detail = "Conversation not found"


class BadCursor(BadRequest):
    code = "bad_cursor"
    detail = "The cursor is not one this list handed out"


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


async def _project_of_owner(
    session: AsyncSession, principal: Principal, project_id: int, owner_id: int
) -> int:
    """A project a conversation may sit in: visible to the caller and owned by its owner."""
    project = await projects_service.get_owned(session, principal, project_id, "write")
    if project.user_id != owner_id:
        raise ProjectNotFound()
    return project.id


def title_from(content: str) -> str:
    """The first line of the first user message, cut at a word near 60 characters."""
    line = " ".join(content.split())
    if len(line) <= TITLE_CHARS:
        return line or DEFAULT_TITLE
    cut = line.rfind(" ", TITLE_CHARS // 2, TITLE_CHARS)
    return line[: cut if cut > 0 else TITLE_CHARS].rstrip() + "..."


async def create(
    session: AsyncSession,
    principal: Principal,
    *,
    title: str | None,
    project_id: int | None = None,
    model_id: str | None = None,
) -> Conversation:
    if project_id is not None:
        await _project_of_owner(session, principal, project_id, principal.user_id)
    now = utcnow()
    conversation = Conversation(
        user_id=principal.user_id,
        project_id=project_id,
        title=title or DEFAULT_TITLE,
        model_id=model_id or None,
        message_count=0,
        created_at=now,
        updated_at=now,
    )
    session.add(conversation)
    await session.flush()
    listing_cache.changed(session, principal.user_id)
    what = f"conversation '{conversation.title}'"
    await activity_service.created(
        session, principal, "inference", "conversation", conversation.id, what
    )
    return conversation


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
            await _project_of_owner(session, principal, project_id, conversation.user_id)
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


# --- lists -----------------------------------------------------------------------------------


SUMMARY_COLUMNS = (
    Conversation.id,
    Conversation.title,
    Conversation.project_id,
    Conversation.model_id,
    Conversation.message_count,
    Conversation.created_at,
    Conversation.updated_at,
)


_conversation = Conversation.__table__.c
# The first page, prebuilt (no statement to build or cache key to compute per request) and
# run on the connection (no ORM): the sidebar asks for it on every load.
_FIRST_PAGE = (
    select(
        _conversation.id,
        _conversation.title,
        _conversation.project_id,
        _conversation.model_id,
        _conversation.message_count,
        _conversation.created_at,
        _conversation.updated_at,
    )
    .where(_conversation.user_id == bindparam("user_id"))
    .order_by(_conversation.updated_at.desc(), _conversation.id.desc())
    .limit(bindparam("size", type_=Integer))
)
_FIRST_PAGE_IN_PROJECT = _FIRST_PAGE.where(_conversation.project_id == bindparam("project_id"))


def _encode_cursor(conversation: Conversation | Row[Any]) -> str:
    raw = f"{conversation.updated_at.isoformat()}|{conversation.id}"
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[datetime, int]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        stamp, ident = raw.split("|")
        moment = datetime.fromisoformat(stamp)
        if not ident.isdigit() or int(ident) > MAX_ID:
            raise ValueError(ident)
        return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)), int(ident)
    except (ValueError, UnicodeDecodeError):
        raise BadCursor() from None


def _fts5_query(words: list[str]) -> str:
    # Each word quoted (no FTS5 syntax from the client); the last one as a prefix.
    quoted = ['"' + word.replace('"', '""') + '"' for word in words]
    quoted[-1] += "*"
    return " ".join(quoted)


def _matching_messages(dialect: str, query: str) -> Any:
    """Ids of conversations with a message holding every word of `query`, the last one as a
    prefix (FTS5 on SQLite, to_tsvector/to_tsquery on PostgreSQL); None for no words."""
    words = re.findall(r"\w+", query)
    if not words:
        return None
    if dialect == "sqlite":
        hits = text("SELECT rowid FROM message_fts WHERE message_fts MATCH :fts").bindparams(
            bindparam("fts", _fts5_query(words))
        )
        return select(Message.conversation_id).where(Message.id.in_(hits))
    # \w+ words carry no tsquery syntax; the config is a literal so the GIN index applies.
    config = literal_column("'simple'::regconfig")
    vector = func.to_tsvector(config, Message.content)
    tsquery = func.to_tsquery(config, " & ".join(words) + ":*")
    return select(Message.conversation_id).where(vector.op("@@")(tsquery))


async def list_page(
    session: AsyncSession,
    principal: Principal,
    *,
    project_id: int | None = None,
    search: str | None = None,
    limit: int | None = None,
    cursor: str | None = None,
) -> tuple[list[Row[Any]], str | None]:
    """The caller's conversations (rows of SUMMARY_COLUMNS, no ORM objects: this is the
    sidebar's hot path), most recently active first; the next page's cursor."""
    size = min(limit or MAX_PAGE, MAX_PAGE)
    if not cursor and not (search and search.strip()):
        return await _first_page(session, principal.user_id, project_id, size)
    query = select(*SUMMARY_COLUMNS).where(Conversation.user_id == principal.user_id)
    if project_id is not None:
        query = query.where(Conversation.project_id == project_id)
    if search and search.strip():
        search = search.strip()
        matches = [Conversation.title.icontains(search, autoescape=True)]
        in_messages = _matching_messages(session.get_bind().dialect.name, search)
        if in_messages is not None:
            matches.append(Conversation.id.in_(in_messages))
        query = query.where(or_(*matches))
    if cursor:
        moment, ident = _decode_cursor(cursor)
        query = query.where(
            or_(
                Conversation.updated_at < moment,
                and_(Conversation.updated_at == moment, Conversation.id < ident),
            )
        )
    query = query.order_by(Conversation.updated_at.desc(), Conversation.id.desc()).limit(size + 1)
    rows = list((await session.execute(query)).all())
    if len(rows) > size:
        return rows[:size], _encode_cursor(rows[size - 1])
    return rows, None


async def _first_page(
    session: AsyncSession, user_id: int, project_id: int | None, size: int
) -> tuple[list[Row[Any]], str | None]:
    params: dict[str, Any] = {"user_id": user_id, "size": size + 1}
    statement = _FIRST_PAGE
    if project_id is not None:
        statement, params["project_id"] = _FIRST_PAGE_IN_PROJECT, project_id
    rows = list((await (await session.connection()).execute(statement, params)).all())
    if len(rows) > size:
        return rows[:size], _encode_cursor(rows[size - 1])
    return rows, None


async def list_offset(
    session: AsyncSession, principal: Principal, *, limit: int, offset: int
) -> list[Conversation]:
    """Vault's form: limit/offset, most recently active first."""
    query = (
        select(Conversation)
        .where(Conversation.user_id == principal.user_id)
        .order_by(Conversation.updated_at.desc(), Conversation.id.desc())
        .limit(limit)
        .offset(offset)
    )
    return list(await session.scalars(query))


async def summaries_by_project(
    session: AsyncSession, project_ids: list[int], per_project: int = MAX_PAGE
) -> dict[int, list[Conversation]]:
    """Each project's conversations, most recently active first, at most `per_project` each."""
    if not project_ids:
        return {}
    rank = (
        func.row_number()
        .over(
            partition_by=Conversation.project_id,
            order_by=(Conversation.updated_at.desc(), Conversation.id.desc()),
        )
        .label("rank")
    )
    ranked = select(Conversation, rank).where(Conversation.project_id.in_(project_ids)).subquery()
    row = aliased(Conversation, ranked)
    query = select(row).where(ranked.c.rank <= per_project)
    query = query.order_by(ranked.c.project_id, ranked.c.rank)
    grouped: dict[int, list[Conversation]] = {}
    for conversation in await session.scalars(query):
        grouped.setdefault(conversation.project_id, []).append(conversation)
    return grouped


# --- messages --------------------------------------------------------------------------------


async def messages_page(
    session: AsyncSession,
    conversation_id: int,
    *,
    limit: int | None = None,
    before: int | None = None,
) -> tuple[list[Message], int | None]:
    """Up to `limit` messages before `before` (a message id), oldest first, and the id to ask
    `before` for the page older than this one."""
    size = min(limit or MAX_PAGE, MAX_PAGE)
    query = select(Message).where(Message.conversation_id == conversation_id)
    if before is not None:
        query = query.where(Message.id < before)
    rows = list(await session.scalars(query.order_by(Message.id.desc()).limit(size + 1)))
    more = len(rows) > size
    rows = rows[:size]
    rows.reverse()
    return rows, (rows[0].id if more and rows else None)


@dataclass(slots=True)
class HistoryEntry:
    id: int
    role: str
    content: str
    files: list[StoredFile]


_message = Message.__table__.c
_message_file = MessageFile.__table__
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


async def attachments_of(
    session: AsyncSession, message_ids: list[int]
) -> dict[int, list[StoredFile]]:
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
    grouped: dict[int, list[StoredFile]] = {}
    for message_id, file_id in links:
        if file_id in files:
            grouped.setdefault(message_id, []).append(files[file_id])
    return grouped


@dataclass
class NewMessage:
    role: str
    content: str
    model: str | None = None
    thinking_content: str | None = None
    thinking_duration_ms: int | None = None
    incomplete: bool = False
    meta: dict[str, Any] | None = None
    files: list[StoredFile] = field(default_factory=list)
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
    and, from a user message, the title of a conversation that has the default one
    (DECISIONS 22)."""
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


# --- export ----------------------------------------------------------------------------------


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


async def export(
    session: AsyncSession, principal: Principal, conversation_id: int, fmt: str
) -> tuple[Conversation, str]:
    """The whole conversation as JSON or Markdown text."""
    conversation = await get_owned(session, principal, conversation_id)
    messages = list(
        await session.scalars(
            select(Message).where(Message.conversation_id == conversation.id).order_by(Message.id)
        )
    )
    attachments = await attachments_of(session, [message.id for message in messages])
    if fmt == "json":
        return conversation, _export_json(conversation, messages, attachments)
    return conversation, _export_markdown(conversation, messages, attachments)


def _export_json(
    conversation: Conversation, messages: list[Message], attachments: dict[int, list[StoredFile]]
) -> str:
    document = {
        "id": str(conversation.id),
        "title": conversation.title,
        "project_id": None if conversation.project_id is None else str(conversation.project_id),
        "model": conversation.model_id,
        "createdAt": _iso(conversation.created_at),
        "updatedAt": _iso(conversation.updated_at),
        "messages": [
            {
                "id": str(message.id),
                "role": message.role,
                "content": message.content,
                "timestamp": _iso(message.created_at),
                "model": message.model,
                "incomplete": message.incomplete,
                "attachments": [
                    {
                        "id": str(file.id),
                        "filename": file.filename,
                        "mime_type": file.mime_type,
                        "file_size": file.size,
                        "sha256": file.sha256,
                    }
                    for file in attachments.get(message.id, [])
                ],
            }
            for message in messages
        ],
    }
    return json.dumps(document, ensure_ascii=False, indent=2)


def _export_markdown(
    conversation: Conversation, messages: list[Message], attachments: dict[int, list[StoredFile]]
) -> str:
    lines = [f"# {conversation.title}", "", f"_Exported {_iso(utcnow())}_", ""]
    for message in messages:
        heading = message.role.capitalize()
        if message.model:
            heading += f" ({message.model})"
        lines += [f"## {heading} — {_iso(message.created_at)}", "", message.content, ""]
        if message.incomplete:
            lines += ["_(reply cut off before it finished)_", ""]
        for file in attachments.get(message.id, []):
            lines.append(f"- Attachment: {file.filename} ({file.mime_type}, {file.size} bytes)")
        if attachments.get(message.id):
            lines.append("")
    return "\n".join(lines)


# --- admin metrics ---------------------------------------------------------------------------


async def workspace_metrics(session: AsyncSession, active_since: datetime) -> dict[str, int]:
    """Seed 004's admin metrics, counted in one query (activity from users.last_active_at,
    which the ActivityRecorder keeps off the request path)."""

    def count(table: Any, *where: Any) -> Any:
        return select(func.count()).select_from(table).where(*where).scalar_subquery()

    row = (
        await session.execute(
            select(
                count(User),
                count(Project),
                count(Conversation),
                count(Message),
                count(User, User.last_active_at >= active_since),
            )
        )
    ).one()
    names = ("totalUsers", "totalProjects", "totalConversations", "totalMessages")
    return {**dict(zip(names, map(int, row[:4]), strict=True)), "activeUsers24h": int(row[4])}
