"""Seed 004's conversations and messages under `/api/v1/conversations`."""

from typing import Annotated

from fastapi import APIRouter, FastAPI, Query, Request, Response

from atrium.conversations import export as conversations_export
from atrium.conversations import generation, listing, listing_cache, messages, websearch
from atrium.conversations import service as conversations_service
from atrium.conversations.auth import ConversationsDelete, ConversationsRead, ConversationsWrite
from atrium.conversations.listing_cache import ListingCache
from atrium.conversations.schemas import (
    ConversationCreate,
    ConversationDeleted,
    ConversationDetail,
    ConversationListQuery,
    ConversationSummary,
    ConversationUpdate,
    ExportFormat,
    MessageCreate,
    MessageRead,
    summary_fields,
)
from atrium.conversations.tables import Conversation
from atrium.db import LongReadSessionDep, ReadDep, SessionDep
from atrium.shapes import json_response

router = APIRouter(prefix="/api/v1/conversations", tags=["conversations"])

NOT_FOUND = {404: {"description": "No such conversation, or not the caller's"}}


def _files_key(request: Request) -> bytes:
    """The key that signs attachments' download links."""
    return request.app.state.secrets.derive("files")


@router.post("", response_model=ConversationSummary, status_code=201)
async def create_conversation(
    body: ConversationCreate, principal: ConversationsWrite, session: SessionDep
) -> Conversation:
    return await conversations_service.create(
        session, principal, title=body.title, project_id=body.project_id, model_id=body.model
    )


@router.get(
    "",
    response_model=list[ConversationSummary],
    description="The caller's conversations, most recently active first. Without `limit`, all "
    "of them up to 1,000; the next page's cursor comes in `X-Next-Cursor`. `q` searches "
    "titles and message text.",
)
async def list_conversations(
    request: Request,
    query: Annotated[ConversationListQuery, Query()],
    principal: ConversationsRead,
) -> Response:
    # The sidebar's request: the body is `list[ConversationSummary]` already serialised (and,
    # for a first page, kept by `ListingCache`); a connection is taken only to build a page.
    state = request.app.state
    body, next_cursor = await listing.summaries_page(
        state.db, state.listing_cache, principal, query
    )
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
    request: Request, conversation_id: int, principal: ConversationsRead, connection: ReadDep
) -> Response:
    conversation = await conversations_service.summary_owned(connection, principal, conversation_id)
    shaped, _ = await messages.read_page(connection, conversation.id, _files_key(request))
    return json_response({**summary_fields(conversation), "messages": shaped})


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
    conversation_id: int,
    principal: ConversationsRead,
    connection: ReadDep,
    limit: Annotated[int | None, Query(ge=1, le=1000)] = None,
    before: Annotated[int | None, Query(ge=1, description="A message id")] = None,
) -> Response:
    conversation = await conversations_service.summary_owned(connection, principal, conversation_id)
    shaped, older = await messages.read_page(
        connection, conversation.id, _files_key(request), limit=limit, before=before
    )
    headers = {"X-Next-Cursor": str(older)} if older is not None else None
    return json_response(shaped, headers)


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
) -> MessageRead | Response:
    stream = _wants_stream(request, body)
    return await generation.respond(
        session, principal, request, conversation_id, body, stream=stream
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
    fmt = "json" if format == "json" else "markdown"
    export = await conversations_export.export(session, principal, conversation_id, fmt)
    return Response(
        export.document,
        media_type=f"{export.media_type}; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{export.filename}"'},
    )


def setup(app: FastAPI) -> None:
    app.state.listing_cache = ListingCache(app.state.redis)
    listing_cache.install(app.state.db.sessions, app.state.listing_cache)
    client = websearch.make_client()
    app.state.web_search_client = client

    async def close_client(_app: FastAPI) -> None:
        await client.aclose()

    app.state.shutdown_hooks.append(close_client)
