"""The sidebar's list: the caller's conversations as keyset pages, most recently active first,
searched by title and message text; the first pages served from `ListingCache`."""

import base64
import re
from datetime import UTC, datetime
from typing import Any

from pydantic import TypeAdapter
from sqlalchemy import Integer, Row, and_, bindparam, func, literal_column, or_, select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from atrium.auth.principal import Principal
from atrium.conversations.listing_cache import ListingCache
from atrium.conversations.schemas import ConversationListQuery, ConversationSummary
from atrium.conversations.tables import Conversation, Message
from atrium.errors import BadRequest
from atrium.params import MAX_ID

MAX_PAGE = 1000


class BadCursor(BadRequest):
    code = "bad_cursor"
    detail = "The cursor is not one this list handed out"


_conversation = Conversation.__table__.c
SUMMARY_COLUMNS = (
    _conversation.id,
    _conversation.title,
    _conversation.project_id,
    _conversation.model_id,
    _conversation.message_count,
    _conversation.created_at,
    _conversation.updated_at,
)
# The first page, prebuilt (no statement to build or cache key to compute per request) and
# run on the connection (no ORM): the sidebar asks for it on every load.
_FIRST_PAGE = (
    select(*SUMMARY_COLUMNS)
    .where(_conversation.user_id == bindparam("user_id"))
    .order_by(_conversation.updated_at.desc(), _conversation.id.desc())
    .limit(bindparam("size", type_=Integer))
)
_FIRST_PAGE_IN_PROJECT = _FIRST_PAGE.where(_conversation.project_id == bindparam("project_id"))
# Rows straight to the declared response shape's JSON (pydantic-core: as fast as building
# dicts for orjson, and the list can never drift from `ConversationSummary`).
_SUMMARIES = TypeAdapter(list[ConversationSummary])


def summaries_json(rows: list[Row[Any]]) -> bytes:
    summaries = _SUMMARIES.validate_python(rows, from_attributes=True)
    return _SUMMARIES.dump_json(summaries, by_alias=True)


def _encode_cursor(row: Row[Any]) -> str:
    raw = f"{row.updated_at.isoformat()}|{row.id}"
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


def _search_text(search: str | None) -> str | None:
    return search.strip() if search and search.strip() else None


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
    search = _search_text(search)
    if not cursor and not search:
        return await _first_page(session, principal.user_id, project_id, size)
    query = select(*SUMMARY_COLUMNS).where(_conversation.user_id == principal.user_id)
    if project_id is not None:
        query = query.where(_conversation.project_id == project_id)
    if search:
        matches = [_conversation.title.icontains(search, autoescape=True)]
        in_messages = _matching_messages(session.get_bind().dialect.name, search)
        if in_messages is not None:
            matches.append(_conversation.id.in_(in_messages))
        query = query.where(or_(*matches))
    if cursor:
        moment, ident = _decode_cursor(cursor)
        query = query.where(
            or_(
                _conversation.updated_at < moment,
                and_(_conversation.updated_at == moment, _conversation.id < ident),
            )
        )
    query = query.order_by(_conversation.updated_at.desc(), _conversation.id.desc())
    rows = list((await session.execute(query.limit(size + 1))).all())
    return _with_cursor(rows, size)


async def _first_page(
    session: AsyncSession, user_id: int, project_id: int | None, size: int
) -> tuple[list[Row[Any]], str | None]:
    params: dict[str, Any] = {"user_id": user_id, "size": size + 1}
    statement = _FIRST_PAGE
    if project_id is not None:
        statement, params["project_id"] = _FIRST_PAGE_IN_PROJECT, project_id
    rows = list((await (await session.connection()).execute(statement, params)).all())
    return _with_cursor(rows, size)


def _with_cursor(rows: list[Row[Any]], size: int) -> tuple[list[Row[Any]], str | None]:
    if len(rows) > size:
        return rows[:size], _encode_cursor(rows[size - 1])
    return rows, None


async def summaries_page(
    sessions: async_sessionmaker[AsyncSession],
    cache: ListingCache,
    principal: Principal,
    query: ConversationListQuery,
) -> tuple[bytes, str | None]:
    """The list page as JSON and the next page's cursor. A first page (no search, no cursor)
    comes from `cache` while the caller's conversations are unchanged; a session is opened
    only to build a page, as opening one costs more than serving the cached page."""

    async def build() -> tuple[bytes, str | None]:
        async with sessions() as session:
            rows, next_cursor = await list_page(
                session,
                principal,
                project_id=query.project_id,
                search=query.q,
                limit=query.limit,
                cursor=query.cursor,
            )
        return summaries_json(rows), next_cursor

    if query.cursor or _search_text(query.q):
        return await build()
    key = (principal.user_id, principal.created_at, query.project_id, query.limit)
    return await cache.page(principal.user_id, key, query.limit or MAX_PAGE, build)
