from datetime import UTC, datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, PlainSerializer


def iso_z(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


IsoZ = Annotated[datetime, PlainSerializer(iso_z, return_type=str)]
StrId = Annotated[int, PlainSerializer(str, return_type=str)]
OptionalStrId = Annotated[
    int | None, PlainSerializer(lambda v: None if v is None else str(v), return_type=str | None)
]


class AuditLogRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: StrId
    created_at: IsoZ
    user_id: OptionalStrId
    key_id: OptionalStrId
    key_prefix: str | None
    method: str
    route: str | None
    path: str
    status: int
    latency_ms: float
    client: str | None
    user_agent: str | None
    request_id: str | None
    prev_hash: str
    hash: str


class AuditVerifyRead(BaseModel):
    valid: bool
    checked: int
    first_id: int | None = None
    last_id: int | None = None
    first_broken_id: int | None = None
    reason: str | None = None
