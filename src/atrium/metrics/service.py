"""Prometheus figures, gathered at scrape time: nothing on the request path counts anything.

Requests and latency by route template come from the audit log writer's per-process
statistics (updated from the batches it writes); jobs, LLM calls, tokens and cost are read
from the database (instance-wide, surviving restarts); the pool and queue from this process.
"""

from typing import Any

from prometheus_client import REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
)
from sqlalchemy.ext.asyncio import AsyncSession

from atrium.auditlog import service as auditlog_service
from atrium.jobs import metrics as jobs_metrics
from atrium.usage import analytics as usage_analytics


async def snapshot(session: AsyncSession, state: Any) -> dict[str, Any]:
    pool = state.db.engine.pool
    writer = state.audit_log
    return {
        "requests": dict(writer.stats.counts),
        "latency": {key: list(value) for key, value in writer.stats.latency.items()},
        "jobs": await jobs_metrics.counts_by_kind_status(session),
        "llm": await usage_analytics.totals_by_model(session),
        "pool": {
            "size": pool.size() if hasattr(pool, "size") else 0,
            "checked_out": pool.checkedout() if hasattr(pool, "checkedout") else 0,
            "overflow": pool.overflow() if hasattr(pool, "overflow") else 0,
        },
        "audit": {"depth": writer.depth, "written": writer.written, "failures": writer.failures},
        "in_flight": dict(state.in_flight),
    }


def _requests(figures: dict[str, Any]) -> list[Any]:
    counter = CounterMetricFamily(
        "atrium_http_requests",
        "HTTP requests by method, route template and status",
        labels=["method", "route", "status"],
    )
    for (method, route, status), count in sorted(figures["requests"].items()):
        counter.add_metric([method, route, str(status)], count)
    histogram = HistogramMetricFamily(
        "atrium_http_request_duration_seconds",
        "HTTP request latency by route template",
        labels=["method", "route"],
    )
    bounds = [str(bound / 1000) for bound in auditlog_service.LATENCY_BOUNDS_MS] + ["+Inf"]
    for (method, route), values in sorted(figures["latency"].items()):
        cumulative, buckets = 0.0, []
        for bound, count in zip(bounds, values[:-1], strict=True):
            cumulative += count
            buckets.append((bound, cumulative))
        histogram.add_metric([method, route], buckets, values[-1] / 1000)
    return [counter, histogram]


def _llm(figures: dict[str, Any]) -> list[Any]:
    labels = ["provider", "model"]
    calls = CounterMetricFamily("atrium_llm_calls", "LLM gateway calls", labels=labels)
    errors = CounterMetricFamily(
        "atrium_llm_errors", "LLM gateway calls that failed", labels=labels
    )
    tokens = CounterMetricFamily("atrium_llm_tokens", "LLM tokens", labels=[*labels, "direction"])
    cost = CounterMetricFamily("atrium_llm_cost_usd", "LLM cost in US dollars", labels=labels)
    for row in figures["llm"]:
        key = [row["provider"], row["model"]]
        calls.add_metric(key, row["calls"])
        errors.add_metric(key, row["errors"])
        tokens.add_metric([*key, "prompt"], row["prompt_tokens"])
        tokens.add_metric([*key, "completion"], row["completion_tokens"])
        cost.add_metric(key, row["cost_usd"])
    return [calls, errors, tokens, cost]


def _process(figures: dict[str, Any]) -> list[Any]:
    jobs = GaugeMetricFamily(
        "atrium_jobs_current", "Jobs by kind and status now", labels=["kind", "status"]
    )
    for (kind, status), count in sorted(figures["jobs"].items()):
        jobs.add_metric([kind, status], count)
    pool = GaugeMetricFamily(
        "atrium_db_pool_connections", "Database pool connections", labels=["state"]
    )
    for name, value in figures["pool"].items():
        pool.add_metric([name], value)
    depth = GaugeMetricFamily("atrium_audit_log_queue_depth", "Requests waiting to be written")
    depth.add_metric([], figures["audit"]["depth"])
    written = CounterMetricFamily("atrium_audit_log_written", "Audit rows written by this process")
    written.add_metric([], figures["audit"]["written"])
    failures = CounterMetricFamily("atrium_audit_log_write_failures", "Failed audit batches")
    failures.add_metric([], figures["audit"]["failures"])
    in_flight = GaugeMetricFamily("atrium_inference_requests_in_flight", "/v1 requests in progress")
    in_flight.add_metric([], figures["in_flight"].get("inference", 0))
    return [jobs, pool, depth, written, failures, in_flight]


class _Snapshot:
    def __init__(self, figures: dict[str, Any]) -> None:
        self.figures = figures

    def collect(self) -> list[Any]:
        return [*_requests(self.figures), *_llm(self.figures), *_process(self.figures)]


def render(figures: dict[str, Any]) -> bytes:
    """This scrape's figures, then the process-wide registry (process, GC, job counters)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Snapshot(figures))
    return generate_latest(registry) + generate_latest(REGISTRY)
