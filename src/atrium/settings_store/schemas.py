from pydantic import BaseModel, Field


class AdminSettingsRead(BaseModel):
    registration_open: bool
    default_model: str | None


class AdminSettingsUpdate(BaseModel):
    registration_open: bool | None = None
    default_model: str | None = Field(default=None, max_length=300)
