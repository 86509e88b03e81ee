"""Seed 004's upload shape (snake_case, as the seed spells it) plus the file's id and times."""

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, Field, PlainSerializer

StrId = Annotated[int, PlainSerializer(str, return_type=str)]


class FileRead(BaseModel):
    id: StrId
    filename: str
    file_path: str = Field(description="Signed download URL (short-lived; re-signed on every read)")
    file_size: int
    mime_type: str
    sha256: str
    created_at: datetime = Field(serialization_alias="createdAt")


class FileDeleted(BaseModel):
    id: str
    deleted: bool = True
