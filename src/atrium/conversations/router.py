"""Seed 004's conversations and messages under `/api/v1/conversations`, and its admin metrics."""

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, FastAPI, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, Field, ValidationError

from atrium.auth.deps import require
from atrium.auth.principal import Principal
from atrium.conversations import generation, listing_cache, websearch
from atrium.conversations import service as conversations_service
from atrium.conversations.listing_cache import ListingCache
from atrium.conversations.schemas import (
    AdminMetrics,
    ConversationCreate,
    ConversationDeleted,
    ConversationDetail,
    ConversationSummary,
    ConversationUpdate,
    ExportFormat,
    MessageCreate,
    MessageRead,
)
from atrium.conversations.service import MAX_PAGE
from atrium.conversations.tables import Conversation, Message
from atrium.db import LongReadSessionDep, SessionDep, utcnow
from atrium.errors import Forbidden
from atrium.files import service as files_service
from atrium.files.tables import StoredFile
from atrium.params import Id

router = APIRouter(prefix="/api/v1/conversations", tags=["conversations"])
admin_router = APIRouter(prefix="/api/v1/admin", tags=["admin"])
routers = [router, admin_router]

ConversationsRead = Annotated[Principal, Depends(require("conversations", "read"))]
ConversationsWrite = Annotated[Principal, Depends(require("conversations", "write"))]
ConversationsDelete = Annotated[Principal, Depends(require("conversations", "delete"))]
SystemRead = Annotated[Principal, Depends(require("system", "read"))]
NOT_FOUND = {404: {"description": "No such conversation, or not the caller's"}}


def message_read(request: Request, message: Message, files: list[StoredFile]) -> MessageRead:
    key = request.app.state.secrets.derive("files")
    meta = message.meta or {}
    return MessageRead(
        id=message.id,
        role=message.role,
        content=message.content,
        timestamp=message.created_at,
        attachments=[files_service.describe(key, file) for file in files],
        model=message.model,
        incomplete=message.incomplete,
        warnings=list(meta.get("warnings") or []),
    )


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _summary(row: Any) -> dict[str, Any]:
    """ConversationSummary as JSON, built straight from a row (the list's hot path)."""
    return {
        "id": str(row.id),
        "title": row.title,
        "project_id": None if row.project_id is None else str(row.project_id),
        "model": row.model_id,
        "messageCount": row.message_count,
        "createdAt": _iso(row.created_at),
        "updatedAt": _iso(row.updated_at),
    }


@router.post("", response_model=ConversationSummary, status_code=201)
async def create_conversation(
    body: ConversationCreate, principal: ConversationsWrite, session: SessionDep
) -> Conversation:
    return await conversations_service.create(
        session, principal, title=body.title, project_id=body.project_id, model_id=body.model
    )


class ListQuery(BaseModel):
    project_id: Id | None = None
    q: str | None = Field(default=None, max_length=200, description="Search text")
    limit: int | None = Field(default=None, ge=1, le=1000)
    cursor: str | None = Field(default=None, max_length=200, description="From X-Next-Cursor")


def _query_parameters(model: type[BaseModel]) -> list[dict[str, Any]]:
    """OpenAPI parameters for query fields that a handler validates itself."""
    parameters = []
    for name, schema in model.model_json_schema()["properties"].items():
        parameter = {"name": name, "in": "query", "required": False, "schema": schema}
        if "description" in schema:
            parameter["description"] = schema["description"]
        parameters.append(parameter)
    return parameters


def _list_query(request: Request) -> ListQuery:
    try:
        return ListQuery.model_validate(dict(request.query_params))
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        raise RequestValidationError(
            [{**error, "loc": ("query", *error["loc"])} for error in errors]
        ) from None


@router.get(
    "",
    response_model=list[ConversationSummary],
    description="The caller's conversations, most recently active first. Without `limit`, all "
    "of them up to 1,000; the next page's cursor comes in `X-Next-Cursor`. `q` searches "
    "titles and message text.",
    openapi_extra={"parameters": _query_parameters(ListQuery)},
)
async def list_conversations(request: Request, principal: ConversationsRead) -> Response:
    # The sidebar's request, its first page served from `ListingCache` while the caller's
    # conversations are unchanged. The query is validated here rather than by FastAPI, and the
    # session opened only on a miss: both cost more than the cached page itself.
    query = _list_query(request)
    search = query.q if query.q and query.q.strip() else None

    async def build() -> tuple[bytes, str | None]:
        async with request.app.state.db.sessions() as session:
            rows, next_cursor = await conversations_service.list_page(
                session,
                principal,
                project_id=query.project_id,
                search=search,
                limit=query.limit,
                cursor=query.cursor,
            )
        return orjson.dumps([_summary(row) for row in rows]), next_cursor

    if query.cursor or search:
        body, next_cursor = await build()
    else:
        cache: ListingCache = request.app.state.listing_cache
        key = (principal.user_id, principal.created_at, query.project_id, query.limit)
        size = query.limit or MAX_PAGE
        body, next_cursor = await cache.page(principal.user_id, key, size, build)
    headers = {"X-Next-Cursor": next_cursor} if next_cursor is not None else None
    return Response(body, headers=headers, media_type="application/json")


@router.get(
    "/{conversation_id}",
    response_model=ConversationDetail,
    responses=NOT_FOUND,
    description="The conversation with its messages, oldest first (the latest 1,000; older "
    "ones through `/messages?before=`).",
)
async def read_conversation(
    request: Request, conversation_id: int, principal: ConversationsRead, session: SessionDep
) -> ConversationDetail:
    conversation = await conversations_service.get_owned(session, principal, conversation_id)
    messages, _ = await conversations_service.messages_page(session, conversation.id)
    attached = await conversations_service.attachments_of(session, [m.id for m in messages])
    detail = ConversationDetail.model_validate(conversation)
    detail.messages = [message_read(request, m, attached.get(m.id, [])) for m in messages]
    return detail


@router.patch(
    "/{conversation_id}",
    response_model=ConversationSummary,
    responses=NOT_FOUND,
    description="Rename (`title`), move to another project (`project_id`; null takes it out "
    "of its project) or change its `model`.",
)
async def update_conversation(
    conversation_id: int,
    body: ConversationUpdate,
    principal: ConversationsWrite,
    session: SessionDep,
) -> Conversation:
    changes = body.model_dump(exclude_unset=True)
    if "model" in changes:
        changes["model_id"] = changes.pop("model")
    return await conversations_service.update(session, principal, conversation_id, changes)


@router.delete("/{conversation_id}", response_model=ConversationDeleted, responses=NOT_FOUND)
async def delete_conversation(
    conversation_id: int, principal: ConversationsDelete, session: SessionDep
) -> ConversationDeleted:
    await conversations_service.delete(session, principal, conversation_id)
    return ConversationDeleted(id=str(conversation_id))


@router.get(
    "/{conversation_id}/messages",
    response_model=list[MessageRead],
    responses=NOT_FOUND,
    description="Messages oldest first: the latest `limit` (all up to 1,000 without it), or "
    "those before the message id `before`. `X-Next-Cursor` holds the `before` of the older page.",
)
async def list_messages(
    request: Request,
    response: Response,
    conversation_id: int,
    principal: ConversationsRead,
    session: SessionDep,
    limit: Annotated[int | None, Query(ge=1, le=1000)] = None,
    before: Annotated[int | None, Query(ge=1, description="A message id")] = None,
) -> list[MessageRead]:
    conversation = await conversations_service.get_owned(session, principal, conversation_id)
    messages, older = await conversations_service.messages_page(
        session, conversation.id, limit=limit, before=before
    )
    if older is not None:
        response.headers["X-Next-Cursor"] = str(older)
    attached = await conversations_service.attachments_of(session, [m.id for m in messages])
    return [message_read(request, m, attached.get(m.id, [])) for m in messages]


def _wants_stream(request: Request, body: MessageCreate) -> bool:
    return body.stream or "text/event-stream" in request.headers.get("accept", "")


@router.post(
    "/{conversation_id}/messages",
    response_model=MessageRead,
    responses={
        200: {
            "content": {"text/event-stream": {}},
            "description": "The stored assistant message; with `stream: true` or `Accept: "
            "text/event-stream`, SSE: `delta` events {content}, then `message` (the stored "
            "reply) or `error` {detail, code}",
        },
        404: {"description": "Unknown conversation, or a file that is not the caller's"},
        503: {"description": "No LLM provider configured; `detail` says how to add one"},
    },
    description="Stores the user message, sends it with the conversation's history (trimmed to "
    "the model's context window) and the attached files to the model, stores the reply and "
    "returns it. `internet_enabled` adds web search results when an administrator configured "
    "a search endpoint; otherwise the reply's `warnings` says so.",
)
async def send_message(
    request: Request,
    conversation_id: int,
    body: MessageCreate,
    principal: ConversationsWrite,
    session: SessionDep,
) -> Any:
    conversation = await conversations_service.get_owned(
        session, principal, conversation_id, "write"
    )
    turn = await generation.start_turn(session, principal, request, conversation, body)
    if not _wants_stream(request, body):
        message = await generation.reply(session, principal, request, conversation, turn)
        return message_read(request, message, [])
    chunks = request.app.state.gateway.stream(principal, turn.request, origin="workspace")
    first = await anext(chunks, None)  # routing and upstream errors: a plain error response
    await generation.store_question(session, conversation, turn)  # committed before streaming

    def shape(message: Message) -> dict[str, Any]:
        return message_read(request, message, []).model_dump(mode="json", by_alias=True)

    events = generation.stream_events(request.app.state.db.sessions, turn, chunks, first, shape)
    return generation.EventStreamResponse(
        events, headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    )


@router.get(
    "/{conversation_id}/export",
    response_class=Response,
    responses={
        200: {"content": {"application/json": {}, "text/markdown": {}}},
        **NOT_FOUND,
    },
    description="The whole conversation as a JSON or Markdown download.",
)
async def export_conversation(
    conversation_id: int,
    principal: ConversationsRead,
    session: LongReadSessionDep,
    format: Annotated[ExportFormat, Query()] = "json",
) -> Response:
    fmt = "markdown" if format == "md" else format
    conversation, document = await conversations_service.export(
        session, principal, conversation_id, fmt
    )
    extension, media = ("json", "application/json") if fmt == "json" else ("md", "text/markdown")
    filename = f"conversation-{conversation.id}.{extension}"
    return Response(
        document,
        media_type=f"{media}; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


@admin_router.get(
    "/metrics",
    response_model=AdminMetrics,
    responses={403: {"description": "Not an administrator"}},
    description="Workspace totals (administrators only). `activeUsers24h` counts users seen "
    "in the last 24 hours.",
)
async def read_admin_metrics(principal: SystemRead, session: SessionDep) -> AdminMetrics:
    if not principal.is_admin:
        raise Forbidden()
    since = utcnow() - timedelta(hours=24)
    return AdminMetrics.model_validate(
        await conversations_service.workspace_metrics(session, since)
    )


def setup(app: FastAPI) -> None:
    app.state.listing_cache = ListingCache(app.state.redis)
    listing_cache.install(app.state.db.sessions, app.state.listing_cache)
    client = websearch.make_client()
    app.state.web_search_client = client

    async def close_client(_app: FastAPI) -> None:
        await client.aclose()

    app.state.shutdown_hooks.append(close_client)
