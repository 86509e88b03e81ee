"""Seed 004's project shapes: camelCase times, string ids, the project's conversations."""

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer, field_validator

from atrium.conversations.schemas import ConversationSummary
from atrium.text import DisplayName

StrId = Annotated[int, PlainSerializer(str, return_type=str)]


class ProjectCreate(BaseModel):
    name: DisplayName = Field(min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=10_000)
    color: str | None = Field(default=None, max_length=32)

    @field_validator("name")
    @classmethod
    def name_not_blank(cls, value: str) -> str:
        value = value.strip()
        if not value:
            raise ValueError("must not be blank")
        return value


class ProjectUpdate(BaseModel):
    name: DisplayName | None = Field(default=None, min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=10_000)
    color: str | None = Field(default=None, max_length=32)

    @field_validator("name")
    @classmethod
    def name_not_blank(cls, value: str | None) -> str | None:
        if value is None:
            raise ValueError("must not be null")
        value = value.strip()
        if not value:
            raise ValueError("must not be blank")
        return value


class ProjectRead(BaseModel):
    model_config = ConfigDict(from_attributes=True, populate_by_name=True)

    id: StrId
    name: str
    description: str | None
    color: str | None
    conversations: list[ConversationSummary] = []
    created_at: datetime = Field(serialization_alias="createdAt")
    updated_at: datetime = Field(serialization_alias="updatedAt")


def project_fields(project: Any, conversations: list[dict[str, Any]]) -> dict[str, Any]:
    """A project as `ProjectRead` serialises it (`conversations`: `summary_fields` of each),
    times left to `shapes.json_bytes`."""
    return {
        "id": str(project.id),
        "name": project.name,
        "description": project.description,
        "color": project.color,
        "conversations": conversations,
        "createdAt": project.created_at,
        "updatedAt": project.updated_at,
    }


class ProjectDeleted(BaseModel):
    id: str
    deleted: bool = True


class AdminMetrics(BaseModel):
    """Seed 004's workspace totals (camelCase)."""

    model_config = ConfigDict(populate_by_name=True)

    total_users: int = Field(serialization_alias="totalUsers", validation_alias="totalUsers")
    total_projects: int = Field(
        serialization_alias="totalProjects", validation_alias="totalProjects"
    )
    total_conversations: int = Field(
        serialization_alias="totalConversations", validation_alias="totalConversations"
    )
    total_messages: int = Field(
        serialization_alias="totalMessages", validation_alias="totalMessages"
    )
    active_users_24h: int = Field(
        serialization_alias="activeUsers24h", validation_alias="activeUsers24h"
    )
