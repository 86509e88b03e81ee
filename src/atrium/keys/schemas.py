"""API key shapes of `/api/v1/tokens` (ForgeTrace's camelCase tokens); Vault's are in
`surfaces/vault/keys.py`."""

from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, Field, field_validator

from atrium.keys.tables import ApiKey
from atrium.params import MAX_ID
from atrium.shapes import Input, Money, iso_z, money
from atrium.text import DisplayName


def masked(key: ApiKey) -> str:
    return f"{key.prefix}{'*' * 16}"


# --- ForgeTrace (seed 001): /api/v1/tokens --------------------------------------------------


class TokenCreate(Input):
    name: DisplayName = Field(min_length=1, max_length=200)
    scopes: list[str] | None = None
    expires_at: datetime | None = None
    expires_in_days: int | None = Field(default=None, ge=1, le=3650)

    @field_validator("expires_at")
    @classmethod
    def assume_utc(cls, value: datetime | None) -> datetime | None:
        """A time without a zone is read as UTC."""
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


class TokenUpdate(Input):
    name: DisplayName | None = Field(default=None, min_length=1, max_length=200)
    rpm_limit: int | None = Field(default=None, ge=0, le=MAX_ID)
    tpm_limit: int | None = Field(default=None, ge=0, le=MAX_ID)
    monthly_budget_usd: Money | None = None


class TokenRead(BaseModel):
    id: str
    name: str
    token: str
    prefix: str
    scopes: list[str] | None
    createdAt: str | None
    lastUsed: str | None
    expiresAt: str | None
    rpmLimit: int | None
    tpmLimit: int | None
    monthlyBudgetUsd: float | None


def token_read(key: ApiKey, secret: str | None = None) -> dict[str, Any]:
    return {
        "id": str(key.id),
        "name": key.name,
        "token": secret or masked(key),
        "prefix": key.prefix,
        "scopes": key.scopes,
        "createdAt": iso_z(key.created_at),
        "lastUsed": iso_z(key.last_used_at),
        "expiresAt": iso_z(key.expires_at),
        "rpmLimit": key.rpm_limit,
        "tpmLimit": key.tpm_limit,
        "monthlyBudgetUsd": money(key.monthly_budget_usd),
    }


class Message(BaseModel):
    message: str
