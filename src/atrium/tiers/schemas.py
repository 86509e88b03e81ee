"""Tier requests and responses; limits are monthly, null meaning no limit."""

from datetime import datetime
from typing import Annotated

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, field_validator

from atrium.params import Id


def _alias(name: str, camel: str) -> AliasChoices:
    return AliasChoices(name, camel)


class TierFields(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="forbid")

    description: str | None = Field(None, max_length=500)
    files_scanned: int | None = Field(
        None, ge=0, le=2**62, validation_alias=_alias("files_scanned", "filesScanned")
    )
    llm_tokens: int | None = Field(
        None, ge=0, le=2**62, validation_alias=_alias("llm_tokens", "llmTokens")
    )
    requests: int | None = Field(None, ge=0, le=2**62)
    storage_bytes: int | None = Field(
        None, ge=0, le=2**62, validation_alias=_alias("storage_bytes", "storageBytes")
    )
    is_default: bool | None = Field(None, validation_alias=_alias("is_default", "isDefault"))


def _clean_name(value: str | None) -> str | None:
    if value is None:
        return None
    value = value.strip().lower()
    if not value or not all(c.isalnum() or c in "-_ " for c in value):
        raise ValueError("a tier name uses letters, digits, spaces, '-' and '_'")
    return value


class TierCreate(TierFields):
    name: str = Field(min_length=1, max_length=64)

    _name = field_validator("name")(_clean_name)


class TierUpdate(TierFields):
    name: str | None = Field(None, min_length=1, max_length=64)

    _name = field_validator("name")(_clean_name)


class TierRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    name: str
    description: str | None
    files_scanned: int | None
    llm_tokens: int | None
    requests: int | None
    storage_bytes: int | None
    is_default: bool
    users: int = 0
    created_at: datetime
    updated_at: datetime


class TierList(BaseModel):
    tiers: list[TierRead]


class UserTierAssign(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="forbid")

    tier: Annotated[str, Field(max_length=64)] | Id | None = Field(
        None,
        description="A tier's name or id; null returns the user to the default tier",
        validation_alias=AliasChoices("tier", "tier_id", "tierId", "name"),
    )


class UserTierRead(BaseModel):
    user_id: str
    tier: TierRead
    source: str = Field(description="subscription, assigned or default")


class TierDeleted(BaseModel):
    id: str
    deleted: bool
