"""Request and response models of the provider endpoints (seed 002, CONTRACTS)."""

from datetime import datetime
from typing import Any, Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, field_validator

from atrium.params import MAX_ID
from atrium.providers.adapters.base import PROVIDER_TYPES
from atrium.text import DisplayName

ProviderType = Literal[PROVIDER_TYPES]  # type: ignore[valid-type]


class ProviderSettings(BaseModel):
    model_config = ConfigDict(extra="allow")

    temperature: float = Field(0.7, ge=0, le=2)
    max_tokens: int = Field(4096, ge=1, le=MAX_ID)
    timeout: float = Field(60, gt=0, le=600)
    retry_attempts: int = Field(3, ge=0, le=10)
    custom_headers: dict[str, str] = Field(default_factory=dict)
    extra_params: dict[str, Any] = Field(default_factory=dict)


def _lower_type(value: Any) -> Any:
    return value.strip().lower() if isinstance(value, str) else value


class ProviderCreate(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    name: DisplayName = Field(min_length=1, max_length=100)
    type: ProviderType = Field(validation_alias=AliasChoices("type", "provider_type"))
    api_key: str | None = Field(None, max_length=4000)
    api_base: str | None = Field(
        None,
        max_length=500,
        validation_alias=AliasChoices("api_base", "base_url", "apiBase", "baseUrl"),
    )
    models: list[str] = Field(default_factory=list, max_length=500)
    enabled: bool = True
    settings: ProviderSettings = Field(default_factory=ProviderSettings)
    description: str | None = Field(None, max_length=500)

    _type = field_validator("type", mode="before")(_lower_type)

    @field_validator("name")
    @classmethod
    def strip_name(cls, value: str) -> str:
        value = value.strip()
        if not value:
            raise ValueError("name must not be blank")
        return value


class ProviderUpdate(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    name: DisplayName | None = Field(None, min_length=1, max_length=100)
    type: ProviderType | None = Field(None, validation_alias=AliasChoices("type", "provider_type"))
    api_key: str | None = Field(None, max_length=4000)
    api_base: str | None = Field(
        None,
        max_length=500,
        validation_alias=AliasChoices("api_base", "base_url", "apiBase", "baseUrl"),
    )
    models: list[str] | None = Field(None, max_length=500)
    enabled: bool | None = None
    settings: ProviderSettings | None = None
    description: str | None = Field(None, max_length=500)

    _type = field_validator("type", mode="before")(_lower_type)


class ProviderRead(BaseModel):
    id: str
    name: str
    type: str
    api_base: str | None
    base_url: str | None
    models: list[str] = Field(description="The models served: the pinned list, else discovered")
    pinned_models: list[str]
    discovered_models: list[str]
    discovered_at: datetime | None
    model_metadata: dict[str, dict[str, Any]]
    enabled: bool
    settings: dict[str, Any]
    description: str | None
    api_key_configured: bool
    api_key_masked: str | None
    is_global: bool
    owner_id: str | None
    created_at: datetime
    updated_at: datetime
    last_test_status: str | None
    last_test_time: datetime | None
    last_test_error: str | None = None


class ModelMetadataUpdate(BaseModel):
    """What is known of one model; null clears a value (the provider's report shows again)."""

    model_config = ConfigDict(populate_by_name=True, extra="forbid")

    context_window: int | None = Field(
        None, ge=1, le=100_000_000, validation_alias=AliasChoices("context_window", "contextWindow")
    )
    supports_vision: bool | None = Field(
        None, validation_alias=AliasChoices("supports_vision", "supportsVision")
    )
    parameters: str | None = Field(None, max_length=32)
    quantization: str | None = Field(None, max_length=32)


class ModelMetadataRead(BaseModel):
    provider_id: str
    model: str
    served: bool
    context_window: int | None
    supports_vision: bool | None
    parameters: str | None
    quantization: str | None
    size_bytes: int | None
    overrides: dict[str, Any]


class ProviderList(BaseModel):
    providers: list[ProviderRead]


class ProviderTestResult(BaseModel):
    ok: bool
    success: bool
    latency_ms: int | None
    models: list[str]
    model_tested: str | None = None
    error: str | None = None


class AvailableProviders(BaseModel):
    available_providers: list[dict[str, Any]]


class ProviderDeleted(BaseModel):
    id: str
    deleted: bool
