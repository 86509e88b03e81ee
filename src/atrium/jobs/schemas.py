"""Neutral job shapes (`/api/v1/jobs`): progress 0..1, snake_case, ids as strings."""

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer

StrId = Annotated[int, PlainSerializer(str, return_type=str)]
OptionalStrId = Annotated[
    int | None, PlainSerializer(lambda v: None if v is None else str(v), return_type=str | None)
]
JobStatus = Literal["queued", "running", "paused", "completed", "failed", "cancelled"]


class JobRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: StrId
    kind: str
    owner_id: OptionalStrId
    status: JobStatus
    stop_requested: Literal["pause", "cancel"] | None = Field(
        default=None, validation_alias="control", description="Asked to stop, not stopped yet"
    )
    progress: float
    stage: str | None
    payload: dict[str, Any]
    result: Any = None
    error: str | None
    attempts: int
    checkpoint: Any = Field(default=None, exclude=True)
    run_after: datetime | None
    lease_until: datetime | None = Field(default=None, exclude=True)
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    updated_at: datetime


class JobEventRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    job_id: StrId
    seq: int
    type: str
    data: dict[str, Any]
    created_at: datetime


class JobDeleted(BaseModel):
    id: str
    deleted: bool = True
