from datetime import datetime

from pydantic import BaseModel


class UsagePoint(BaseModel):
    date: str
    requests: int
    tokens: int


class TimeBucket(BaseModel):
    range: str
    count: int


class ModelShare(BaseModel):
    model: str
    requests: int
    percentage: float


class RouteFigures(BaseModel):
    method: str
    route: str
    requests: int
    error_rate: float
    avg_latency_ms: float


class InsightsRead(BaseModel):
    range: str
    since: datetime
    usage_history: list[UsagePoint]
    response_time_distribution: list[TimeBucket]
    model_usage: list[ModelShare]
    total_requests: int
    total_tokens: int
    avg_response_time: float
    active_users: int
    error_rate: float
    client_error_rate: float
    latency_p50_ms: float | None
    latency_p95_ms: float | None
    top_routes: list[RouteFigures]
