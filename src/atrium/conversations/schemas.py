"""Seed 004's conversation and message shapes (camelCase except the seed's own snake_case)."""

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    field_validator,
)

from atrium.files.schemas import FileRead
from atrium.params import Id
from atrium.text import DisplayName

StrId = Annotated[int, PlainSerializer(str, return_type=str)]
OptionalStrId = Annotated[
    int | None, PlainSerializer(lambda v: None if v is None else str(v), return_type=str | None)
]


def _strip_title(value: str | None) -> str | None:
    if value is None:
        return None
    value = value.strip()
    if not value:
        raise ValueError("must not be blank")
    return value


class ConversationCreate(BaseModel):
    title: DisplayName | None = Field(default=None, max_length=300)
    project_id: Id | None = Field(
        default=None, validation_alias=AliasChoices("project_id", "projectId")
    )
    model: str | None = Field(
        default=None,
        max_length=300,
        validation_alias=AliasChoices("model", "model_id", "modelId"),
        description="Model for replies; the default model when absent",
    )

    _title = field_validator("title")(_strip_title)


class ConversationUpdate(BaseModel):
    """Rename, move to another project (`project_id: null` takes it out), change model."""

    title: DisplayName | None = Field(default=None, max_length=300)
    project_id: Id | None = Field(
        default=None, validation_alias=AliasChoices("project_id", "projectId")
    )
    model: str | None = Field(
        default=None, max_length=300, validation_alias=AliasChoices("model", "model_id", "modelId")
    )

    _title = field_validator("title")(_strip_title)


class ConversationListQuery(BaseModel):
    project_id: Id | None = None
    q: str | None = Field(default=None, max_length=200, description="Search text")
    limit: int | None = Field(default=None, ge=1, le=1000)
    cursor: str | None = Field(default=None, max_length=200, description="From X-Next-Cursor")


class ConversationSummary(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: StrId
    title: str
    project_id: OptionalStrId
    model: str | None = Field(validation_alias="model_id", serialization_alias="model")
    message_count: int = Field(serialization_alias="messageCount")
    created_at: datetime = Field(serialization_alias="createdAt")
    updated_at: datetime = Field(serialization_alias="updatedAt")


def summary_fields(row: Any) -> dict[str, Any]:
    """A conversation (a row of the summary columns) as `ConversationSummary` serialises it,
    times left to `shapes.json_bytes`: the read path's JSON without validating a model."""
    return {
        "id": str(row.id),
        "title": row.title,
        "project_id": None if row.project_id is None else str(row.project_id),
        "model": row.model_id,
        "messageCount": row.message_count,
        "createdAt": row.created_at,
        "updatedAt": row.updated_at,
    }


class MessageRead(BaseModel):
    id: StrId
    role: str
    content: str
    timestamp: datetime
    attachments: list[FileRead] = []
    model: str | None = None
    incomplete: bool = False
    warnings: list[str] = []


def message_fields(row: Any, attachments: list[dict[str, Any]]) -> dict[str, Any]:
    """A stored message as `MessageRead` serialises it (`attachments`: `FileRead`'s fields)."""
    meta = row.meta or {}
    return {
        "id": str(row.id),
        "role": row.role,
        "content": row.content,
        "timestamp": row.created_at,
        "attachments": attachments,
        "model": row.model,
        "incomplete": row.incomplete,
        "warnings": list(meta.get("warnings") or []),
    }


class ConversationDetail(ConversationSummary):
    messages: list[MessageRead] = []


class ConversationDeleted(BaseModel):
    id: str
    deleted: bool = True


class MessageCreate(BaseModel):
    content: str = Field(max_length=1_000_000)
    internet_enabled: bool = Field(
        default=False, validation_alias=AliasChoices("internet_enabled", "internetEnabled")
    )
    files: list[Id | str] = Field(
        default=[], max_length=20, description="Ids of the caller's files to attach"
    )
    model: str | None = Field(default=None, max_length=300)
    stream: bool = Field(
        default=False, description="Reply as Server-Sent Events (also: Accept: text/event-stream)"
    )
    parameters: dict[str, Any] = Field(
        default={}, description="temperature, max_tokens, top_p, stop, ... passed to the model"
    )

    @field_validator("content")
    @classmethod
    def content_not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be empty")
        return value


ExportFormat = Literal["json", "markdown", "md"]
