from datetime import UTC, datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, PlainSerializer


def iso_z(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


class ActivityRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: Annotated[int, PlainSerializer(str, return_type=str)]
    created_at: Annotated[datetime, PlainSerializer(iso_z, return_type=str)]
    user_id: Annotated[
        int | None, PlainSerializer(lambda v: None if v is None else str(v), return_type=str | None)
    ]
    actor_name: str | None
    type: str
    action: str
    title: str
    description: str
    subject_type: str | None
    subject_id: str | None
