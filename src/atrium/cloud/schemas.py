from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    field_validator,
    model_validator,
)

from atrium.jobs import schedules
from atrium.params import MAX_ID

StrId = Annotated[int, PlainSerializer(str, return_type=str)]
OptStrId = Annotated[int | None, PlainSerializer(lambda v: None if v is None else str(v))]
Action = Literal["stop-instance", "delete-volume", "release-address", "delete-snapshot"]


class Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class FindingRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: StrId
    account_id: StrId
    resource_id: str
    resource_type: str
    region: str
    rule: str
    evidence: dict[str, Any]
    estimated_monthly_savings: float | None
    status: str
    dismissed_reason: str | None
    dismissed_at: datetime | None
    created_at: datetime
    updated_at: datetime


class DismissRequest(BaseModel):
    reason: str = Field(min_length=1, max_length=2000)


class PolicyCreate(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    action: Action
    requires_approval: bool = True
    approver_role: str | None = Field(default=None, max_length=64)
    account_id: int | None = Field(default=None, ge=1, le=MAX_ID)
    tag_key: str | None = Field(default=None, max_length=128)
    tag_value: str | None = Field(default=None, max_length=256)
    enabled: bool = True


class PolicyUpdate(BaseModel):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    action: Action | None = None
    requires_approval: bool | None = None
    approver_role: str | None = Field(default=None, max_length=64)
    account_id: int | None = Field(default=None, ge=1, le=MAX_ID)
    tag_key: str | None = Field(default=None, max_length=128)
    tag_value: str | None = Field(default=None, max_length=256)
    enabled: bool | None = None


class PolicyRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: StrId
    user_id: StrId
    account_id: OptStrId
    name: str
    action: str
    requires_approval: bool
    approver_role: str | None
    tag_key: str | None
    tag_value: str | None
    enabled: bool
    created_at: datetime
    updated_at: datetime


class PolicyDeleted(BaseModel):
    id: str
    deleted: bool = True


class RemediationCreate(BaseModel):
    finding_id: int = Field(
        ge=1, le=MAX_ID, validation_alias=AliasChoices("finding_id", "findingId")
    )
    action: Action


class RemediationRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: StrId
    account_id: StrId
    finding_id: OptStrId
    policy_id: OptStrId
    requested_by: OptStrId
    action: str
    resource_id: str
    region: str
    status: str
    approver_role: str | None
    decided_by: OptStrId
    decided_at: datetime | None
    comment: str | None
    error: str | None
    executed_at: datetime | None
    created_at: datetime


class DecisionRequest(BaseModel):
    comment: str | None = Field(default=None, max_length=2000)


PipelineStep = Literal["discovery", "waste_analysis", "report"]
STEP_ORDER = ("discovery", "waste_analysis", "report")


class PipelineSchedule(BaseModel):
    """Exactly one of a period in seconds (at least a minute) or a cron expression (UTC)."""

    every_seconds: int | None = Field(default=None, ge=60, le=366 * 86400)
    cron: str | None = Field(default=None, min_length=9, max_length=100)

    @model_validator(mode="after")
    def _one_of(self) -> "PipelineSchedule":
        try:
            schedules.validate(self.every_seconds, self.cron)
        except ValueError as exc:
            raise ValueError(str(exc)) from None
        return self


def _chain(steps: list[str] | None) -> list[str] | None:
    if steps is None:
        return None
    if len(set(steps)) != len(steps):
        raise ValueError("a step may appear once")
    if steps != sorted(steps, key=STEP_ORDER.index):
        raise ValueError("steps run in the order discovery, waste_analysis, report")
    return steps


class PipelineCreate(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    account_id: int = Field(ge=1, le=MAX_ID)
    steps: list[PipelineStep] = Field(default=list(STEP_ORDER), min_length=1, max_length=3)
    schedule: PipelineSchedule | None = None
    enabled: bool = True

    _steps = field_validator("steps")(_chain)


class PipelineUpdate(BaseModel):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    steps: list[PipelineStep] | None = Field(default=None, min_length=1, max_length=3)
    schedule: PipelineSchedule | None = None
    enabled: bool | None = None

    _steps = field_validator("steps")(_chain)


class PipelineStepRead(BaseModel):
    name: str
    status: str
    job_id: OptStrId = None
    started_at: str | None = None
    finished_at: str | None = None
    error: str | None = None
    result: dict[str, Any] | None = None


class PipelineRunRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: StrId
    pipeline_id: StrId
    account_id: StrId
    trigger: str
    status: str
    steps: list[PipelineStepRead]
    error: str | None
    report_available: bool
    created_at: datetime
    finished_at: datetime | None


class PipelineRead(BaseModel):
    id: StrId
    user_id: StrId
    account_id: StrId
    name: str
    steps: list[str]
    schedule: PipelineSchedule | None
    next_run_at: datetime | None
    enabled: bool
    created_at: datetime
    updated_at: datetime
    last_run: PipelineRunRead | None = None


class PipelineDeleted(BaseModel):
    id: str
    deleted: bool = True
