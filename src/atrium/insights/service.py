"""Insights: request figures from the audit log's roll-ups, tokens and model shares from the
LLM usage roll-ups. Neither reads raw rows, so the cost does not grow with traffic."""

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from atrium.auditlog import service as auditlog_service
from atrium.auth.principal import Principal
from atrium.usage import analytics as usage_analytics

RANGES = {"24h": 1, "7d": 7, "30d": 30, "90d": 90}
# the histogram's upper edges (ms), matching the audit log's roll-up buckets
EDGES = (5, 10, 25, 50, 100, 250, 500, 1000, 2000, 5000, 10000)
# Vault's six buckets as slices of the histogram
VAULT_BUCKETS = (
    ("<100ms", slice(0, 5)),
    ("100-500ms", slice(5, 7)),
    ("500ms-1s", slice(7, 8)),
    ("1-2s", slice(8, 9)),
    ("2-5s", slice(9, 10)),
    (">5s", slice(10, 12)),
)


def percentile(histogram: list[int], fraction: float) -> float | None:
    """Linear interpolation inside the bucket holding the fraction-th request."""
    total = sum(histogram)
    if not total:
        return None
    rank = fraction * total
    seen = 0
    for index, count in enumerate(histogram):
        if count and seen + count >= rank:
            low = EDGES[index - 1] if index else 0
            if index >= len(EDGES):
                return float(low)  # the open bucket: at least its lower edge
            return round(low + (EDGES[index] - low) * (rank - seen) / count, 1)
        seen += count
    return float(EDGES[-1])


def _rate(part: int, whole: int) -> float:
    return round(part / whole, 4) if whole else 0.0


async def insights(session: AsyncSession, principal: Principal, range_: str) -> dict[str, Any]:
    auditlog_service.ensure_reach(principal)
    days = RANGES[range_]
    now = datetime.now(UTC)
    since = now - timedelta(days=days)
    traffic = await auditlog_service.traffic(session, since)
    usage = await usage_analytics.overview(session, principal, days + 1 if days == 1 else days)
    models = await usage_analytics.by_model(session, principal, days + 1 if days == 1 else days)
    tokens_by_day = {day["date"]: day["tokens"] for day in usage["daily_breakdown"]}
    dates = sorted(set(traffic["per_day"]) | {d for d, t in tokens_by_day.items() if t})
    requests, histogram = traffic["requests"], traffic["histogram"]
    model_calls = sum(model["calls"] for model in models["models"])
    return {
        "range": range_,
        "since": since,
        "usage_history": [
            {
                "date": day,
                "requests": traffic["per_day"].get(day, 0),
                "tokens": tokens_by_day.get(day, 0),
            }
            for day in dates
        ],
        "response_time_distribution": [
            {"range": label, "count": sum(histogram[part])} for label, part in VAULT_BUCKETS
        ],
        "model_usage": [
            {
                "model": model["model"],
                "requests": model["calls"],
                "percentage": round(100 * model["calls"] / model_calls, 2),
            }
            for model in models["models"]
        ],
        "total_requests": requests,
        "total_tokens": usage["total_tokens"],
        "avg_response_time": round(traffic["latency_ms_sum"] / requests, 2) if requests else 0.0,
        "active_users": await auditlog_service.active_actors(session, since),
        "error_rate": _rate(traffic["server_errors"], requests),
        "client_error_rate": _rate(traffic["client_errors"], requests),
        "latency_p50_ms": percentile(histogram, 0.50),
        "latency_p95_ms": percentile(histogram, 0.95),
        "top_routes": [
            {
                "method": route["method"],
                "route": route["route"],
                "requests": route["requests"],
                "error_rate": _rate(route["server_errors"], route["requests"]),
                "avg_latency_ms": round(route["latency_ms_sum"] / route["requests"], 2),
            }
            for route in traffic["top_routes"]
        ],
    }
