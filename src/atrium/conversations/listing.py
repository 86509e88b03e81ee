"""The sidebar's list: the caller's conversations as keyset pages, most recently active first,
searched by title and message text; the first pages served from `ListingCache`."""

import base64
import re
from datetime import UTC, datetime
from typing import Any, NamedTuple

from sqlalchemy import (
    Integer,
    Select,
    bindparam,
    func,
    literal_column,
    or_,
    select,
    text,
    tuple_,
)

from atrium.auth.principal import Principal
from atrium.conversations.listing_cache import ListingCache
from atrium.conversations.schemas import ConversationListQuery, summary_fields
from atrium.conversations.tables import Conversation, Message
from atrium.db import Database
from atrium.errors import BadRequest
from atrium.params import MAX_ID
from atrium.prepared import Prepared
from atrium.reader import Reader
from atrium.shapes import json_bytes

MAX_PAGE = 1000


class BadCursor(BadRequest):
    code = "bad_cursor"
    detail = "The cursor is not one this list handed out"


class SummaryRow(NamedTuple):
    """A conversation's summary columns, as the lists read them. Rows are copied into records
    like this one on the read paths: a SQLAlchemy `Row`'s attribute access costs about 1 µs
    here, a named tuple's a twentieth of that."""

    id: int
    title: str
    project_id: int | None
    model_id: str | None
    message_count: int
    created_at: datetime
    updated_at: datetime


_conversation = Conversation.__table__.c
SUMMARY_COLUMNS = tuple(_conversation[name] for name in SummaryRow._fields)
NEWEST_FIRST = (_conversation.updated_at.desc(), _conversation.id.desc())
_OWN = select(*SUMMARY_COLUMNS).where(_conversation.user_id == bindparam("user_id"))
_IN_PROJECT = _conversation.project_id == bindparam("project_id")
# A row-value comparison, so the index seeks to the cursor (an OR of two conditions made
# SQLite walk the index from the newest row, filtering).
_BEFORE_CURSOR = tuple_(_conversation.updated_at, _conversation.id) < tuple_(
    bindparam("moment", type_=_conversation.updated_at.type), bindparam("ident", type_=Integer)
)


def _paged(query: Select[Any], *, in_project: bool, after_cursor: bool) -> Select[Any]:
    if in_project:
        query = query.where(_IN_PROJECT)
    if after_cursor:
        query = query.where(_BEFORE_CURSOR)
    return query.order_by(*NEWEST_FIRST).limit(bindparam("size", type_=Integer))


# Every page without a search, prebuilt (no statement to build or cache key to compute per
# request) and run on a connection (no ORM): the sidebar asks for one on every load.
_PAGES = {
    (in_project, after_cursor): Prepared(
        _paged(_OWN, in_project=in_project, after_cursor=after_cursor)
    )
    for in_project in (False, True)
    for after_cursor in (False, True)
}


def summaries_json(rows: list[SummaryRow]) -> bytes:
    """Rows of SUMMARY_COLUMNS as the JSON of `list[ConversationSummary]`."""
    return json_bytes([summary_fields(row) for row in rows])


def _encode_cursor(row: SummaryRow) -> str:
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
    reader: Reader,
    principal: Principal,
    *,
    project_id: int | None = None,
    search: str | None = None,
    limit: int | None = None,
    cursor: str | None = None,
) -> tuple[list[SummaryRow], str | None]:
    """The caller's conversations (summary rows, no ORM objects: this is the sidebar's hot
    path), most recently active first; the next page's cursor."""
    size = min(limit or MAX_PAGE, MAX_PAGE)
    search = _search_text(search)
    params: dict[str, Any] = {"user_id": principal.user_id, "size": size + 1}
    if project_id is not None:
        params["project_id"] = project_id
    if cursor:
        params["moment"], params["ident"] = _decode_cursor(cursor)
    in_project, after_cursor = project_id is not None, bool(cursor)
    if search:
        matches = [_conversation.title.icontains(search, autoescape=True)]
        in_messages = _matching_messages(reader.dialect.name, search)
        if in_messages is not None:
            matches.append(_conversation.id.in_(in_messages))
        statement: Prepared | Select[Any] = _paged(
            _OWN.where(or_(*matches)), in_project=in_project, after_cursor=after_cursor
        )
    else:
        statement = _PAGES[in_project, after_cursor]
    rows = [SummaryRow._make(row) for row in await reader.all(statement, params)]
    if len(rows) > size:
        return rows[:size], _encode_cursor(rows[size - 1])
    return rows, None


async def summaries_page(
    db: Database,
    cache: ListingCache,
    principal: Principal,
    query: ConversationListQuery,
) -> tuple[bytes, str | None]:
    """The list page as JSON and the next page's cursor. A first page (no search, no cursor)
    comes from `cache` while the caller's conversations are unchanged; a connection is taken
    only to build a page, as opening one costs more than serving the cached page."""

    async def build() -> tuple[bytes, str | None]:
        rows, next_cursor = await list_page(
            db.reader,
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
