"""Vault's `/vault/conversations` (seed 000): snake_case, epoch-millisecond times, limit/offset
lists; its `/messages` stores the message it is given and generates nothing (its frontend
generates through `/v1/chat/completions`)."""

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, Field, model_validator

from atrium.conversations import service as conversations_service
from atrium.conversations.auth import ConversationsDelete, ConversationsRead, ConversationsWrite
from atrium.conversations.service import DEFAULT_TITLE, ConversationRecord, MessageRecord
from atrium.db import ReadDep, SessionDep
from atrium.params import MAX_ID
from atrium.shapes import json_response
from atrium.text import DisplayName

router = APIRouter(prefix="/vault/conversations", tags=["vault"])

NOT_FOUND = {404: {"description": "No such conversation, or not the caller's"}}


def epoch_ms(moment: datetime) -> float:
    return moment.timestamp() * 1000


class VaultConversationCreate(BaseModel):
    title: DisplayName = Field(default=DEFAULT_TITLE, max_length=300)
    model_id: str = Field(max_length=300)


class VaultConversationUpdate(BaseModel):
    title: DisplayName | None = Field(default=None, max_length=300)


class VaultMessageCreate(BaseModel):
    role: Literal["user", "assistant", "system"]
    content: str = Field(max_length=1_000_000)
    thinking_content: str | None = Field(default=None, max_length=1_000_000)
    thinking_duration_ms: int | None = Field(default=None, ge=0, le=MAX_ID)

    @model_validator(mode="after")
    def user_says_something(self) -> "VaultMessageCreate":
        if self.role == "user" and not self.content.strip():
            raise ValueError("content must not be empty for a user message")
        return self


class VaultConversationSummary(BaseModel):
    id: str
    title: str
    model_id: str
    created_at: float
    updated_at: float
    message_count: int


class VaultThinking(BaseModel):
    content: str
    durationMs: int | None


class VaultMessage(BaseModel):
    id: str
    role: str
    content: str
    timestamp: float
    thinking: VaultThinking | None = None


class VaultConversation(BaseModel):
    id: str
    title: str
    model_id: str
    messages: list[VaultMessage]
    created_at: float
    updated_at: float


class VaultDeleted(BaseModel):
    id: str
    deleted: bool = True


def summary_fields(conversation: ConversationRecord) -> dict[str, Any]:
    """A conversation as `VaultConversationSummary`'s fields (the read paths send them as
    they are; `summary` builds the model from them)."""
    return {
        "id": str(conversation.id),
        "title": conversation.title,
        "model_id": conversation.model_id or "",
        "created_at": epoch_ms(conversation.created_at),
        "updated_at": epoch_ms(conversation.updated_at),
        "message_count": conversation.message_count,
    }


def message_fields(message: MessageRecord) -> dict[str, Any]:
    """A message as `VaultMessage`'s fields."""
    thinking = None
    if message.thinking_content is not None:
        thinking = {"content": message.thinking_content, "durationMs": message.thinking_duration_ms}
    return {
        "id": str(message.id),
        "role": message.role,
        "content": message.content,
        "timestamp": epoch_ms(message.created_at),
        "thinking": thinking,
    }


def summary(conversation: ConversationRecord) -> VaultConversationSummary:
    return VaultConversationSummary(**summary_fields(conversation))


def vault_message(message: MessageRecord) -> VaultMessage:
    return VaultMessage(**message_fields(message))


@router.get(
    "",
    response_model=list[VaultConversationSummary],
    description="The caller's conversations, most recently active first.",
)
async def list_vault_conversations(
    principal: ConversationsRead,
    connection: ReadDep,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> Response:
    rows = await conversations_service.list_offset(
        connection, principal, limit=limit, offset=offset
    )
    return json_response([summary_fields(conversation) for conversation in rows])


@router.post("", response_model=VaultConversationSummary, status_code=201)
async def create_vault_conversation(
    body: VaultConversationCreate, principal: ConversationsWrite, session: SessionDep
) -> VaultConversationSummary:
    conversation = await conversations_service.create(
        session, principal, title=body.title.strip(), model_id=body.model_id
    )
    return summary(conversation)


@router.get("/{conversation_id}", response_model=VaultConversation, responses=NOT_FOUND)
async def read_vault_conversation(
    conversation_id: int, principal: ConversationsRead, connection: ReadDep
) -> Response:
    conversation = await conversations_service.summary_owned(connection, principal, conversation_id)
    messages, _ = await conversations_service.messages_page(connection, conversation.id)
    return json_response(
        {
            "id": str(conversation.id),
            "title": conversation.title,
            "model_id": conversation.model_id or "",
            "messages": [message_fields(message.row) for message in messages],
            "created_at": epoch_ms(conversation.created_at),
            "updated_at": epoch_ms(conversation.updated_at),
        }
    )


@router.put("/{conversation_id}", response_model=VaultConversationSummary, responses=NOT_FOUND)
async def rename_vault_conversation(
    conversation_id: int,
    body: VaultConversationUpdate,
    principal: ConversationsWrite,
    session: SessionDep,
) -> VaultConversationSummary:
    changes = {} if body.title is None else {"title": body.title.strip()}
    conversation = await conversations_service.update(session, principal, conversation_id, changes)
    return summary(conversation)


@router.delete("/{conversation_id}", response_model=VaultDeleted, responses=NOT_FOUND)
async def delete_vault_conversation(
    conversation_id: int, principal: ConversationsDelete, session: SessionDep
) -> VaultDeleted:
    await conversations_service.delete(session, principal, conversation_id)
    return VaultDeleted(id=str(conversation_id))


@router.post(
    "/{conversation_id}/messages",
    response_model=VaultMessage,
    status_code=201,
    responses=NOT_FOUND,
    description="Stores the message as given, with its role; no reply is generated.",
)
async def add_vault_message(
    conversation_id: int,
    body: VaultMessageCreate,
    principal: ConversationsWrite,
    session: SessionDep,
) -> VaultMessage:
    conversation = await conversations_service.get_owned(
        session, principal, conversation_id, "write"
    )
    message = await conversations_service.add_message(
        session,
        conversation,
        role=body.role,
        content=body.content,
        model=conversation.model_id if body.role == "assistant" else None,
        thinking_content=body.thinking_content,
        thinking_duration_ms=body.thinking_duration_ms,
    )
    return vault_message(message)
