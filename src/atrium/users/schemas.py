"""User shapes of seed 004 (camelCase); other surfaces shape theirs in `surfaces/`."""

from typing import Any

from pydantic import AliasChoices, BaseModel, Field

from atrium.params import MAX_ID
from atrium.shapes import Input, Money, iso_z, money
from atrium.text import DisplayName
from atrium.users.tables import User

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
