"""Webhook shapes, camelCase like the rest of seed 001's `/api/v1` surface; inputs take both."""

from datetime import UTC, datetime

from pydantic import BaseModel, ConfigDict, Field

EVENTS = ("audit.completed", "audit.failed")


def iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


class WebhookCreate(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="ignore")

    url: str = Field(max_length=2048)
    events: list[str] = Field(default_factory=lambda: list(EVENTS), min_length=1, max_length=10)
    secret: str | None = Field(
        default=None,
        min_length=16,
        max_length=200,
        description="HMAC key for the signature; generated (and shown once) when absent.",
    )


class WebhookRead(BaseModel):
    id: str
    url: str
    events: list[str]
    active: bool
    created_at: str = Field(serialization_alias="createdAt")


class WebhookCreated(WebhookRead):
    secret: str = Field(description="Shown once: verify `X-Atrium-Signature` with it.")


class DeliveryRead(BaseModel):
    id: str
    event: str
    status: str = Field(description="pending, delivered or failed")
    attempts: int
    response_status: int | None = Field(serialization_alias="responseStatus")
    last_error: str | None = Field(serialization_alias="lastError")
    next_attempt_at: str | None = Field(serialization_alias="nextAttemptAt")
    created_at: str = Field(serialization_alias="createdAt")
    delivered_at: str | None = Field(serialization_alias="deliveredAt")


class WebhookDeleted(BaseModel):
    id: str
    deleted: bool = True
