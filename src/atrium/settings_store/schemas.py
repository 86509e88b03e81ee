import ipaddress
import re
from pathlib import PurePosixPath
from zoneinfo import available_timezones

from pydantic import BaseModel, Field, field_validator

ORIGIN = re.compile(r"^https?://[A-Za-z0-9.\-\[\]:]+$")
HOSTNAME = re.compile(
    r"^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$"
)
LANGUAGE = re.compile(r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})?$")


def _http_url(value: str | None) -> str | None:
    value = (value or "").strip()
    if value and not re.match(r"^https?://[^\s/?#]+(/[^\s?#]*)?$", value):
        raise ValueError("must be an http:// or https:// URL")
    return value.rstrip("/") or None


class AdminSettingsRead(BaseModel):
    """Every instance setting; the environment gives the initial value, the database wins."""

    registration_open: bool
    default_model: str | None
    web_search_url: str | None = None
    cors_origins: list[str] = []
    trusted_proxies: list[str] = []
    public_base_url: str | None = None
    max_upload_bytes: int = 0
    access_token_minutes: int = 0
    refresh_token_days: int = 0
    audit_log_retention_days: int = 0
    smtp_host: str | None = None
    smtp_port: int = 587
    smtp_username: str | None = None
    smtp_password_set: bool = False
    smtp_from: str | None = None
    smtp_starttls: bool = True
    traefik_api_url: str | None = None
    traefik_dynamic_file: str | None = None
    lago_api_url: str | None = None
    lago_api_key_set: bool = False
    chat_default_temperature: float | None = None
    chat_default_max_tokens: int | None = None
    chat_default_system_prompt: str = ""
    display_timezone: str = "UTC"
    display_language: str = "en"
    network_hostname: str | None = None
    network_dns_servers: list[str] | None = None
    debug_logging: bool = False


class AdminSettingsUpdate(BaseModel):
    """Any subset. `null` on a setting that cannot be empty returns it to the environment's
    value. Nothing is stored unless every field is valid."""

    registration_open: bool | None = None
    default_model: str | None = Field(default=None, max_length=300)
    web_search_url: str | None = Field(
        default=None,
        max_length=2000,
        description="SearXNG-compatible JSON search endpoint for internet-enabled chat messages "
        "(called as GET {url}?q=...&format=json); empty or null turns web search off",
    )
    cors_origins: list[str] | None = Field(default=None, max_length=100)
    trusted_proxies: list[str] | None = Field(default=None, max_length=100)
    public_base_url: str | None = Field(default=None, max_length=2000)
    max_upload_bytes: int | None = Field(default=None, ge=1, le=2**50)
    access_token_minutes: int | None = Field(default=None, ge=1, le=43200)
    refresh_token_days: int | None = Field(default=None, ge=1, le=3650)
    audit_log_retention_days: int | None = Field(default=None, ge=0, le=36500)
    smtp_host: str | None = Field(default=None, max_length=255)
    smtp_port: int | None = Field(default=None, ge=1, le=65535)
    smtp_username: str | None = Field(default=None, max_length=255)
    smtp_password: str | None = Field(default=None, max_length=1000, description="Write-only")
    smtp_from: str | None = Field(default=None, max_length=320)
    smtp_starttls: bool | None = None
    traefik_api_url: str | None = Field(default=None, max_length=2000)
    traefik_dynamic_file: str | None = Field(default=None, max_length=4096)
    lago_api_url: str | None = Field(
        default=None, max_length=2000, description="Lago's API root; with a key, turns sync on"
    )
    lago_api_key: str | None = Field(default=None, max_length=1000, description="Write-only")
    chat_default_temperature: float | None = Field(default=None, ge=0, le=2)
    chat_default_max_tokens: int | None = Field(default=None, ge=1, le=10_000_000)
    chat_default_system_prompt: str | None = Field(default=None, max_length=20000)
    display_timezone: str | None = Field(default=None, max_length=64)
    display_language: str | None = Field(default=None, max_length=16)
    network_hostname: str | None = Field(default=None, max_length=253)
    network_dns_servers: list[str] | None = Field(default=None, max_length=8)
    debug_logging: bool | None = None

    @field_validator("web_search_url", "public_base_url", "traefik_api_url", "lago_api_url")
    @classmethod
    def http_url(cls, value: str | None) -> str | None:
        return _http_url(value)

    @field_validator("cors_origins")
    @classmethod
    def origins(cls, value: list[str] | None) -> list[str] | None:
        if value is None:
            return None
        cleaned = [origin.strip().rstrip("/") for origin in value if origin.strip()]
        for origin in cleaned:
            if origin != "*" and not ORIGIN.match(origin):
                raise ValueError(f"{origin!r} is not an origin (scheme://host[:port]) or '*'")
        return cleaned

    @field_validator("trusted_proxies")
    @classmethod
    def networks(cls, value: list[str] | None) -> list[str] | None:
        if value is None:
            return None
        for entry in value:
            try:
                ipaddress.ip_network(entry.strip(), strict=False)
            except ValueError:
                raise ValueError(f"{entry!r} is not an IP address or network") from None
        return [entry.strip() for entry in value]

    @field_validator("network_dns_servers")
    @classmethod
    def dns_servers(cls, value: list[str] | None) -> list[str] | None:
        for entry in value or ():
            try:
                ipaddress.ip_address(entry.strip())
            except ValueError:
                raise ValueError(f"{entry!r} is not an IP address") from None
        return None if value is None else [entry.strip() for entry in value]

    @field_validator("network_hostname")
    @classmethod
    def hostname(cls, value: str | None) -> str | None:
        if value is not None and not HOSTNAME.match(value.strip()):
            raise ValueError("must be a hostname (letters, digits, hyphens and dots)")
        return value.strip() if value else None

    @field_validator("display_timezone")
    @classmethod
    def timezone(cls, value: str | None) -> str | None:
        if value is not None and value not in available_timezones():
            raise ValueError("must be an IANA time zone such as 'UTC' or 'Europe/Paris'")
        return value

    @field_validator("display_language")
    @classmethod
    def language(cls, value: str | None) -> str | None:
        if value is not None and not LANGUAGE.match(value):
            raise ValueError("must be a language tag such as 'en' or 'pt-BR'")
        return value

    @field_validator("smtp_from")
    @classmethod
    def sender(cls, value: str | None) -> str | None:
        value = (value or "").strip()
        if value and not re.match(r"^[^@\s]+@[^@\s]+\.[^@\s]+$", value):
            raise ValueError("must be an email address")
        return value or None

    @field_validator("traefik_dynamic_file")
    @classmethod
    def absolute_path(cls, value: str | None) -> str | None:
        value = (value or "").strip()
        if value and not PurePosixPath(value).is_absolute():
            raise ValueError("must be an absolute path")
        return value or None
