"""Seed 004's reply generation: the user's message, its attachments and the conversation's
history (trimmed to the model's context window) go to the gateway; the reply is stored.

Streaming: `event: delta` {"content"} as text arrives, then `event: message`
with the stored assistant message, or `event: error` {detail, code}. A reply cut off by a
client disconnect or an upstream failure is stored as far as it got, with `incomplete: true`.
"""

import json
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import anyio
from fastapi import Request
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from atrium.auth.principal import Principal
from atrium.conversations import messages as stored_messages
from atrium.conversations import service as conversations_service
from atrium.conversations import websearch
from atrium.conversations.messages import HistoryEntry, NewMessage
from atrium.conversations.schemas import MessageCreate, MessageRead
from atrium.conversations.tables import Conversation, Message
from atrium.db import transaction, utcnow
from atrium.errors import AtriumError, NotFound, ServiceUnavailable
from atrium.files import service as files_service
from atrium.files.service import FileRecord
from atrium.files.storage import Storage
from atrium.gateway.service import count_message_tokens, count_tokens
from atrium.settings_store import service as settings_service

SEARCH_UNAVAILABLE = "Web search is unavailable: no search endpoint is configured"
HISTORY_LIMIT = 200
DEFAULT_REPLY_RESERVE = 1024
# Assumed when neither the provider nor an administrator says how large a model's window is.
UNKNOWN_CONTEXT_WINDOW = 8192
PARAMETERS = frozenset(
    {
        "temperature",
        "top_p",
        "max_tokens",
        "max_completion_tokens",
        "stop",
        "presence_penalty",
        "frequency_penalty",
        "seed",
        "reasoning_effort",
    }
)


class NoModelAvailable(ServiceUnavailable):
    code = "no_provider_configured"
    detail = (
        "No model is available for this conversation: an administrator can add an LLM provider "
        "with POST /api/v1/llm/providers (or set a default model in /api/v1/admin/settings)"
    )


class ConversationGone(NotFound):
    code = "conversation_not_found"
    detail = "The conversation was deleted while the reply was streaming; the reply was not kept"


@dataclass
class Turn:
    """One exchange in progress: the stored user message and the request for the model."""

    conversation_id: int
    content: str
    files: list[FileRecord]
    received_at: datetime
    model: str
    request: dict[str, Any]
    warnings: list[str] = field(default_factory=list)
    sources: list[dict[str, str]] = field(default_factory=list)


# --- context ---------------------------------------------------------------------------------


def _fit(text: str, budget: int, model: str) -> str:
    """`text` cut to about `budget` tokens, saying so when cut."""
    if len(text) <= budget:  # never more tokens than characters
        return text
    tokens = count_tokens(text, model)
    if tokens <= budget:
        return text
    keep = max(int(len(text) * budget / tokens * 0.95), 0)
    return text[:keep] + "\n[... truncated to fit the model's context window ...]"


async def _render(
    storage: Storage,
    model: str,
    text: str,
    files: list[FileRecord],
    budget: int,
    images_ok: bool,
) -> str | list[dict[str, Any]]:
    """A message's content for the model: its text, then each attachment as text, an image
    part (where the model's metadata says it takes images), or a line naming it."""
    readable = [
        file
        for file in files
        if files_service.is_text_like(file.mime_type) or file.mime_type == "application/pdf"
    ]
    per_file = max(budget // max(len(readable), 1), 0)
    pieces, images = [text], []
    for file in files:
        label = f"{file.filename} ({file.mime_type}, {file.size} bytes)"
        if images_ok and file.mime_type in files_service.MODEL_IMAGES:
            url = await files_service.image_data_url(storage, file)
            if url is not None:
                images.append({"type": "image_url", "image_url": {"url": url}})
                continue
        extracted = None
        if file in readable and per_file > 0:
            extracted = await files_service.extract_text(storage, file, per_file * 4)
        if extracted is not None:
            body = _fit(extracted, per_file, model)
            pieces.append(
                f"\n\n--- Attached file: {label} ---\n{body}\n--- End of {file.filename} ---"
            )
        else:
            pieces.append(f"\n\n[Attached file: {label}; its content is not included]")
    content = "".join(pieces)
    if images:
        return [{"type": "text", "text": content}, *images]
    return content


def _size(message: dict[str, Any], model: str) -> int:
    content = message["content"]
    if isinstance(content, str) and len(content) < 64:
        return len(content) + 8  # short: characters bound the tokens, no tokenizer call
    return count_message_tokens([message], model)


async def build_context(
    storage: Storage,
    model: str,
    window: int,
    reply_reserve: int,
    history: list[HistoryEntry],
    current: tuple[str, list[FileRecord]],
    system: list[dict[str, str]],
    images_ok: bool = False,
) -> list[dict[str, Any]]:
    """System messages, then as much recent history as fits, then the new user message."""
    budget = max(window - reply_reserve, window // 2)
    attachments_budget = budget // 2
    text, files = current
    newest = {
        "role": "user",
        "content": await _render(storage, model, text, files, attachments_budget, images_ok),
    }
    used = sum(_size(message, model) for message in (*system, newest))
    kept: list[dict[str, Any]] = []
    for message in reversed(history):
        remaining = budget - used
        if remaining <= 0:
            break
        content = (
            await _render(storage, model, message.content, message.files, remaining // 2, images_ok)
            if message.files
            else message.content
        )
        entry = {
            "role": message.role if message.role in ("user", "assistant", "system") else "user",
            "content": content,
        }
        cost = _size(entry, model)
        if cost > remaining:
            break
        kept.append(entry)
        used += cost
    kept.reverse()
    return [*system, *kept, newest]


async def _web_context(
    session: AsyncSession, request: Request, query: str
) -> tuple[list[str], list[dict[str, str]], list[dict[str, str]]]:
    """(warnings, system messages, sources) for an internet-enabled message."""
    endpoint = await settings_service.web_search_url(session, request.app.state.settings)
    if not endpoint:
        return [SEARCH_UNAVAILABLE], [], []
    try:
        results = await websearch.search(request.app.state.web_search_client, endpoint, query)
    except websearch.SearchFailed as exc:
        return [f"Web search failed: {exc}"], [], []
    if not results:
        return ["Web search found no results for this message"], [], []
    sources = [{"title": result.title, "url": result.url} for result in results]
    return [], [websearch.as_system_message(query, results)], sources


def _parameters(given: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in given.items() if key in PARAMETERS and value is not None}


async def start_turn(
    session: AsyncSession,
    principal: Principal,
    request: Request,
    conversation: Conversation,
    data: MessageCreate,
) -> Turn:
    """Check the attachments and build the model request; nothing is written yet, so that no
    write lock is held while the model answers (`store_question` writes the message)."""
    received_at = utcnow()
    gateway = request.app.state.gateway
    storage = request.app.state.storage
    files = await files_service.get_senders_files(session, principal, data.files)
    model = data.model or conversation.model_id or await gateway.default_model(principal)
    if not model:
        raise NoModelAvailable()
    warnings, system, sources = [], [], []
    if data.internet_enabled:
        warnings, system, sources = await _web_context(session, request, data.content)
    recent = await stored_messages.history(session, conversation.id, HISTORY_LIMIT)
    parameters = _parameters(data.parameters)
    known = await gateway.model_info(principal, model)
    window = known.get("context_window") or UNKNOWN_CONTEXT_WINDOW
    reserve = int(
        parameters.get("max_tokens")
        or parameters.get("max_completion_tokens")
        or min(DEFAULT_REPLY_RESERVE, window // 4)
    )
    messages = await build_context(
        storage,
        model,
        window,
        reserve,
        recent,
        (data.content, files),
        system,
        bool(known.get("supports_vision")),
    )
    return Turn(
        conversation_id=conversation.id,
        content=data.content,
        files=files,
        received_at=received_at,
        model=model,
        request={"model": model, "messages": messages, **parameters},
        warnings=warnings,
        sources=sources,
    )


def question(turn: Turn) -> NewMessage:
    return NewMessage(
        role="user", content=turn.content, files=turn.files, created_at=turn.received_at
    )


async def store_question(session: AsyncSession, conversation: Conversation, turn: Turn) -> None:
    await stored_messages.add_messages(session, conversation, [question(turn)])


# --- replies ---------------------------------------------------------------------------------


def reply_text(reply: dict[str, Any]) -> tuple[str, str | None]:
    """(content, reasoning) of an OpenAI chat.completion."""
    choices = reply.get("choices") or [{}]
    message = choices[0].get("message") or {}
    return str(message.get("content") or ""), message.get("reasoning_content")


def _meta(turn: Turn, **extra: Any) -> dict[str, Any]:
    meta: dict[str, Any] = {key: value for key, value in extra.items() if value}
    if turn.warnings:
        meta["warnings"] = turn.warnings
    if turn.sources:
        meta["sources"] = turn.sources
    return meta


def answer(
    turn: Turn,
    content: str,
    *,
    incomplete: bool = False,
    thinking: str | None = None,
    error: str | None = None,
) -> NewMessage:
    return NewMessage(
        role="assistant",
        content=content,
        model=turn.model,
        thinking_content=thinking,
        incomplete=incomplete,
        meta=_meta(turn, error=error),
    )


async def store_reply(session: AsyncSession, turn: Turn, reply: NewMessage) -> Message | None:
    """The assistant message of a streamed turn; None when the conversation was deleted
    meanwhile."""
    conversation = await session.get(Conversation, turn.conversation_id)
    if conversation is None:
        return None
    return (await stored_messages.add_messages(session, conversation, [reply]))[0]


async def reply(
    session: AsyncSession,
    principal: Principal,
    request: Request,
    conversation: Conversation,
    turn: Turn,
) -> Message:
    """Ask the model, then store the question and the answer together."""
    completion = await request.app.state.gateway.complete(
        principal, turn.request, origin="workspace"
    )
    content, thinking = reply_text(completion)
    stored = await stored_messages.add_messages(
        session, conversation, [question(turn), answer(turn, content, thinking=thinking)]
    )
    return stored[1]


def _sse(event: str, data: Any) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n".encode()


def _delta(chunk: dict[str, Any]) -> str:
    choices = chunk.get("choices") or []
    if not choices:
        return ""
    return str((choices[0].get("delta") or {}).get("content") or "")


async def revise_reply(session: AsyncSession, saved: Message, reply: NewMessage) -> Message | None:
    """Overwrite a reply stored part-way; None when the conversation was deleted meanwhile."""
    changes = {
        "content": reply.content,
        "thinking_content": reply.thinking_content,
        "incomplete": reply.incomplete,
        "meta": reply.meta or None,
    }
    done = await session.execute(update(Message).where(Message.id == saved.id).values(**changes))
    if done.rowcount != 1:
        return None
    for name, value in changes.items():
        setattr(saved, name, value)
    return saved


async def stream_events(
    sessions: async_sessionmaker[AsyncSession],
    turn: Turn,
    chunks: AsyncIterator[dict[str, Any]],
    first: dict[str, Any] | None,
    shape: Callable[[Message], dict[str, Any]],
    save_every: float = 1.0,
) -> AsyncIterator[bytes]:
    """SSE bytes for one streamed reply; the reply is stored (in a session of its own, the
    request's being closed by now) however the stream ends, and while it streams at most
    once every `save_every` seconds, marked incomplete, so that a crash keeps what was sent."""
    parts: list[str] = []
    stored = False
    saved: Message | None = None  # the reply as stored part-way
    last_save = time.monotonic()

    async def store(incomplete: bool, error: str | None = None) -> Message | None:
        nonlocal saved
        async with transaction(sessions) as session:
            reply = answer(turn, "".join(parts), incomplete=incomplete, error=error)
            if saved is None:
                message = await store_reply(session, turn, reply)
            else:
                message = await revise_reply(session, saved, reply)
        saved = message
        return message

    async def finish(incomplete: bool, error: str | None = None) -> Message | None:
        nonlocal stored
        stored = True
        if saved is None and not parts and incomplete:
            return None
        return await store(incomplete, error)

    try:
        chunk = first
        while chunk is not None:
            text = _delta(chunk)
            if text:
                parts.append(text)
                yield _sse("delta", {"content": text})
                if time.monotonic() - last_save >= save_every:
                    await store(incomplete=True)
                    last_save = time.monotonic()
            chunk = await anext(chunks, None)
        message = await finish(incomplete=False)
        if message is not None:
            yield _sse("message", shape(message))
        else:
            gone = ConversationGone()
            yield _sse("error", {"detail": gone.detail, "code": gone.code})
    except AtriumError as exc:
        await finish(incomplete=True, error=exc.detail)
        yield _sse("error", {"detail": exc.detail, "code": exc.code})
    finally:
        with anyio.CancelScope(shield=True):
            await chunks.aclose()
            if not stored:  # the client went away mid-reply
                await finish(incomplete=True)


class EventStreamResponse(StreamingResponse):
    """A streaming response that always closes its iterator, so that a disconnect finalises
    the reply at once rather than whenever the generator is collected."""

    media_type = "text/event-stream"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            with anyio.CancelScope(shield=True):
                await self.body_iterator.aclose()  # type: ignore[attr-defined]


# --- one exchange, end to end ----------------------------------------------------------------


async def respond(
    session: AsyncSession,
    principal: Principal,
    request: Request,
    conversation_id: int,
    data: MessageCreate,
    *,
    stream: bool,
) -> MessageRead | EventStreamResponse:
    """Answer `data` in the conversation: the stored reply, or its event stream. A stream's
    routing and upstream errors surface before it starts, as plain error responses; the
    question is stored in the request's transaction, committed before the stream is sent."""
    conversation = await conversations_service.get_owned(
        session, principal, conversation_id, "write"
    )
    turn = await start_turn(session, principal, request, conversation, data)
    files_key = request.app.state.secrets.derive("files")
    if not stream:
        message = await reply(session, principal, request, conversation, turn)
        return stored_messages.message_read(files_key, message, [])
    chunks = request.app.state.gateway.stream(principal, turn.request, origin="workspace")
    first = await anext(chunks, None)
    await store_question(session, conversation, turn)

    def shape(message: Message) -> dict[str, Any]:
        read = stored_messages.message_read(files_key, message, [])
        return read.model_dump(mode="json", by_alias=True)

    events = stream_events(request.app.state.db.sessions, turn, chunks, first, shape)
    return EventStreamResponse(
        events, headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    )
