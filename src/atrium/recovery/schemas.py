"""Password reset bodies: snake_case or camelCase (`newPassword`)."""

from pydantic import BaseModel, Field

from atrium.shapes import Input


class ForgotPasswordRequest(Input):
    email: str = Field(max_length=320)


class ResetPasswordRequest(Input):
    token: str = Field(min_length=1, max_length=256)
    new_password: str = Field(max_length=1024)


class MessageRead(BaseModel):
    message: str


class ResetLinkRead(BaseModel):
    url: str
    expires_at: str
