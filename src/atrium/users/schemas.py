"""User shapes: seed 004 (camelCase), seed 003 (snake, `client`), Vault (snake, name/status)."""

from datetime import UTC, datetime
from decimal import ROUND_DOWN, Decimal
from typing import Annotated, Any

from fastapi import Path, Query
from pydantic import (
    AfterValidator,
    AliasChoices,
    AliasGenerator,
    BaseModel,
    ConfigDict,
    Field,
    WithJsonSchema,
)
from pydantic.alias_generators import to_camel

from atrium.params import MAX_ID
from atrium.text import DisplayName
from atrium.users.tables import User

IdPath = Annotated[int, Path(ge=1, le=MAX_ID)]
CursorQuery = Annotated[int | None, Query(ge=0, le=MAX_ID, description="Next page after this id")]


def iso_z(moment: datetime | None) -> str | None:
    """UTC ISO 8601 with `Z`."""
    if moment is None:
        return None
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _both_casings(name: str) -> AliasChoices:
    return AliasChoices(name, to_camel(name))


class Input(BaseModel):
    """Request bodies accept snake_case and camelCase field names."""

    model_config = ConfigDict(
        alias_generator=AliasGenerator(validation_alias=_both_casings),
        populate_by_name=True,
        extra="ignore",
    )


MAX_MONEY = Decimal("99999999.9999")  # NUMERIC(12, 4)


def _cents(value: Decimal) -> Decimal:
    return value.quantize(Decimal("0.0001"), rounding=ROUND_DOWN)


# A JSON number (or a numeric string) from 0 to MAX_MONEY, kept to four decimal places.
Money = Annotated[
    Decimal,
    Field(ge=0, le=MAX_MONEY, allow_inf_nan=False),
    AfterValidator(_cents),
    WithJsonSchema({"type": "number", "minimum": 0, "maximum": float(MAX_MONEY)}),
]


def money(value: Decimal | None) -> float | None:
    return None if value is None else float(value)


# --- seed 004 -------------------------------------------------------------------------------


class UserRead(BaseModel):
    id: str
    email: str
    username: str
    role: str
    createdAt: str | None
    full_name: str | None = None


class AdminUserRead(UserRead):
    isActive: bool
    lastActiveAt: str | None
    rpmLimit: int | None
    tpmLimit: int | None
    monthlyBudgetUsd: float | None


def user_read(user: User) -> dict[str, Any]:
    return {
        "id": str(user.id),
        "email": user.email,
        "username": user.username,
        "role": user.role,
        "createdAt": iso_z(user.created_at),
        "full_name": user.full_name,
    }


def admin_user_read(user: User) -> dict[str, Any]:
    return {
        **user_read(user),
        "isActive": user.is_active,
        "lastActiveAt": iso_z(user.last_active_at),
        "rpmLimit": user.rpm_limit,
        "tpmLimit": user.tpm_limit,
        "monthlyBudgetUsd": money(user.monthly_budget_usd),
    }


class AdminUserUpdate(Input):
    role: str | None = None
    is_active: bool | None = Field(
        default=None, validation_alias=AliasChoices("is_active", "isActive", "active")
    )
    email: str | None = None
    username: DisplayName | None = None
    full_name: DisplayName | None = Field(default=None, max_length=200)
    password: str | None = None
    rpm_limit: int | None = Field(default=None, ge=0, le=MAX_ID)
    tpm_limit: int | None = Field(default=None, ge=0, le=MAX_ID)
    monthly_budget_usd: Money | None = None


class Deleted(BaseModel):
    message: str


# --- Vault (seed 000) -----------------------------------------------------------------------


class VaultUserRead(BaseModel):
    id: str
    name: str
    email: str
    role: str
    status: str
    last_active: str | None
    api_key_count: int
    created_at: str | None
    auth_source: str


def vault_user_read(user: User, api_key_count: int) -> dict[str, Any]:
    return {
        "id": str(user.id),
        "name": user.full_name or user.username,
        "email": user.email,
        "role": user.role,
        "status": "active" if user.is_active else "inactive",
        "last_active": iso_z(user.last_active_at),
        "api_key_count": api_key_count,
        "created_at": iso_z(user.created_at),
        "auth_source": user.auth_source,
    }


class VaultUserCreate(Input):
    name: DisplayName = Field(min_length=1, max_length=200)
    email: str
    role: str = "user"
    password: str | None = None
    auth_source: str | None = Field(default=None, max_length=32)


class VaultUserUpdate(Input):
    name: DisplayName | None = Field(default=None, min_length=1, max_length=200)
    email: str | None = None
    role: str | None = None
    status: str | None = None
