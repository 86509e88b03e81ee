"""Shapes of the OpenAI-compatible surface that are plain JSON (`/v1/models`); chat and
embeddings read and write their bodies themselves and declare them in the router."""

from typing import Literal

from pydantic import BaseModel, Field


class ModelCard(BaseModel):
    id: str
    object: Literal["model"] = "model"
    created: int
    owned_by: str = Field(description="The provider serving the model")
    name: str
    context_window: int | None
    supports_vision: bool | None
    type: Literal["chat", "embedding"]
    status: Literal["available", "unreachable", "unknown"]


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelCard]
