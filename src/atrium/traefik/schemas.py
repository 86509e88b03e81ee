from typing import Any

from pydantic import BaseModel, Field, field_validator


class ServerIn(BaseModel):
    url: str = Field(max_length=2000)
    weight: int | None = Field(default=None, ge=0, le=1_000_000)

    @field_validator("url")
    @classmethod
    def http_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// URL")
        return value


class ReloadRequest(BaseModel):
    servers: list[ServerIn] | None = Field(default=None, min_length=1, max_length=100)


class ProbeRead(BaseModel):
    reachable: bool
    status_code: int | None
    latency_ms: float | None
    error: str | None


class ServerHealth(BaseModel):
    url: str
    traefik_status: str
    probe: ProbeRead


class ServiceHealth(BaseModel):
    service: str
    status: str
    traefik_status: str | None
    servers: list[ServerHealth]
    health_check: dict[str, Any] | None = None


class ServiceMetrics(BaseModel):
    service: str
    requests_total: int
    requests_by_code: dict[str, int]
    requests_per_second: float
    rate_window_seconds: float
    error_rate: float
    latency: dict[str, float | None]


class LbServer(BaseModel):
    url: str
    weight: int
    status: str


class LbStats(BaseModel):
    service: str
    type: str | None
    status: str | None
    servers: list[LbServer]
    servers_up: int
    pass_host_header: bool | None
    sticky: bool
    health_check: dict[str, Any] | None = None
    used_by: list[str]


class ReloadRead(BaseModel):
    service: str
    reloaded: bool
    servers: list[dict[str, Any]]
    waited_ms: float
