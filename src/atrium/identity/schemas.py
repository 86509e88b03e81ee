"""Auth request and response shapes (seed 004 first; seed 001/003 additions)."""

from typing import Any

from pydantic import AliasChoices, BaseModel, Field, model_validator

from atrium.auth.principal import Principal
from atrium.shapes import Input, iso_z
from atrium.text import DisplayName
from atrium.users.schemas import UserRead, user_read


class RegisterRequest(Input):
    email: str = Field(max_length=320)
    username: DisplayName = Field(max_length=64)
    password: str = Field(max_length=1024)
    full_name: DisplayName | None = Field(default=None, max_length=200)


class LoginRequest(Input):
    """The login name may be sent as `email`, `username` or `identifier`."""

    email: str | None = Field(default=None, max_length=320)
    username: str | None = Field(default=None, max_length=320)
    identifier: str | None = Field(default=None, max_length=320)
    password: str = Field(max_length=1024)

    @model_validator(mode="after")
    def has_login_name(self) -> "LoginRequest":
        if not self.login_name:
            raise ValueError("give email, username or identifier")
        return self

    @property
    def login_name(self) -> str:
        return (self.identifier or self.email or self.username or "").strip()


class RefreshRequest(BaseModel):
    refreshToken: str = Field(
        max_length=512, validation_alias=AliasChoices("refreshToken", "refresh_token")
    )


class LogoutRequest(BaseModel):
    refreshToken: str | None = Field(
        default=None,
        max_length=512,
        validation_alias=AliasChoices("refreshToken", "refresh_token"),
    )


class TokenPairRead(BaseModel):
    accessToken: str
    refreshToken: str


class AuthRead(BaseModel):
    user: UserRead
    tokens: TokenPairRead
    access_token: str
    refresh_token: str
    token_type: str = "bearer"


class OAuthTokenRead(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_in: int
    refresh_token: str


class VerifyRead(BaseModel):
    valid: bool
    user: UserRead


class LogoutRead(BaseModel):
    message: str


def principal_user_read(principal: Principal) -> dict[str, Any]:
    """The seed 004 user object, from the cached principal (no query)."""
    return {
        "id": str(principal.user_id),
        "email": principal.email,
        "username": principal.username,
        "role": principal.role,
        "createdAt": iso_z(principal.created_at),
        "full_name": principal.full_name,
    }


def auth_read(user: Any, access_token: str, refresh_token: str | None) -> dict[str, Any]:
    refresh = refresh_token or ""
    return {
        "user": user_read(user),
        "tokens": {"accessToken": access_token, "refreshToken": refresh},
        "access_token": access_token,
        "refresh_token": refresh,
        "token_type": "bearer",
    }
