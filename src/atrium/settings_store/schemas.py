from pydantic import BaseModel, Field, field_validator


class AdminSettingsRead(BaseModel):
    registration_open: bool
    default_model: str | None
    web_search_url: str | None = None


class AdminSettingsUpdate(BaseModel):
    registration_open: bool | None = None
    default_model: str | None = Field(default=None, max_length=300)
    web_search_url: str | None = Field(
        default=None,
        max_length=2000,
        description="SearXNG-compatible JSON search endpoint for internet-enabled chat messages "
        "(called as GET {url}?q=...&format=json); empty or null turns web search off",
    )

    @field_validator("web_search_url")
    @classmethod
    def http_url(cls, value: str | None) -> str | None:
        value = (value or "").strip()
        if value and not value.startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// URL")
        return value or None
