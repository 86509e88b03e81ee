"""Traefik services as Traefik itself reports them (its API and Prometheus metrics), Atrium's
own probe of each server, and reloads through the file provider."""

import asyncio
import math
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
from prometheus_client.parser import text_string_to_metric_families

from atrium.traefik import dynamic
from atrium.traefik.errors import (
    ReloadTimedOut,
    TraefikNotConfigured,
    TraefikServiceNotFound,
    TraefikUnavailable,
)

PROBE_TIMEOUT = 2.0
RELOAD_WAIT_SECONDS = 10.0
RATE_WINDOW = 1.0
QUANTILES = (0.5, 0.9, 0.95, 0.99)


class Traefik:
    """One HTTP client for Traefik's API and for probing servers; the last metrics sample per
    service (for request rates between two scrapes)."""

    def __init__(self, settings: Any) -> None:
        self.settings = settings
        self.client = httpx.AsyncClient(timeout=5.0, follow_redirects=False)
        self.samples: dict[str, tuple[float, float]] = {}
        self.lock = asyncio.Lock()

    async def close(self) -> None:
        await self.client.aclose()

    @property
    def api_url(self) -> str:
        url = self.settings.traefik_api_url
        if not url:
            raise TraefikNotConfigured(
                "Traefik is not configured: set ATRIUM_TRAEFIK_API_URL (or the traefik_api_url "
                "setting) to its API address"
            )
        return url.rstrip("/")

    @property
    def dynamic_file(self) -> Path:
        path = self.settings.traefik_dynamic_file
        if not path:
            raise TraefikNotConfigured(
                "No dynamic configuration file: set ATRIUM_TRAEFIK_DYNAMIC_FILE (or the "
                "traefik_dynamic_file setting) to the file provider's file"
            )
        return Path(path)

    async def _get(self, path: str) -> httpx.Response:
        try:
            return await self.client.get(f"{self.api_url}{path}")
        except httpx.HTTPError as exc:
            raise TraefikUnavailable(
                f"Traefik at {self.api_url} is unreachable: {type(exc).__name__}: {exc}"
            ) from None

    async def service(self, name: str) -> dict[str, Any]:
        """Traefik's view of one HTTP service (`name` or `name@provider`)."""
        qualified = name if "@" in name else f"{name}@file"
        response = await self._get(f"/api/http/services/{quote(qualified, safe='@')}")
        if response.status_code == 404:
            raise TraefikServiceNotFound(f"Traefik has no HTTP service named {qualified!r}")
        if response.status_code != 200:
            raise TraefikUnavailable(f"Traefik's API answered {response.status_code}")
        return response.json()

    async def metric_families(self) -> list[Any]:
        response = await self._get("/metrics")
        if response.status_code != 200:
            raise TraefikUnavailable(
                f"Traefik's metrics answered {response.status_code}: enable "
                "--metrics.prometheus on its API entry point"
            )
        return list(text_string_to_metric_families(response.text))

    async def probe(self, url: str) -> dict[str, Any]:
        started = time.perf_counter()
        try:
            response = await self.client.get(url, timeout=PROBE_TIMEOUT)
        except httpx.HTTPError as exc:
            return {
                "reachable": False,
                "status_code": None,
                "latency_ms": None,
                "error": f"{type(exc).__name__}: {exc}"[:300],
            }
        return {
            "reachable": True,
            "status_code": response.status_code,
            "latency_ms": round((time.perf_counter() - started) * 1000, 2),
            "error": None,
        }


def _servers(view: dict[str, Any]) -> list[dict[str, Any]]:
    return list((view.get("loadBalancer") or {}).get("servers") or [])


async def health(traefik: Traefik, name: str) -> dict[str, Any]:
    view = await traefik.service(name)
    statuses = view.get("serverStatus") or {}
    servers = _servers(view)
    probes = await asyncio.gather(*(traefik.probe(server["url"]) for server in servers))
    rows = [
        {
            "url": server["url"],
            "traefik_status": statuses.get(server["url"], "UNKNOWN"),
            "probe": probe,
        }
        for server, probe in zip(servers, probes, strict=True)
    ]
    up = [row for row in rows if row["traefik_status"] == "UP" and row["probe"]["reachable"]]
    overall = "healthy" if rows and len(up) == len(rows) else "degraded" if up else "down"
    return {
        "service": view.get("name", name),
        "status": overall,
        "traefik_status": view.get("status"),
        "servers": rows,
        "health_check": (view.get("loadBalancer") or {}).get("healthCheck"),
    }


def _for_service(samples: list[Any], service: str) -> list[Any]:
    return [s for s in samples if s.labels.get("service") == service]


def _quantile(buckets: list[tuple[float, float]], fraction: float) -> float | None:
    """Interpolated quantile (seconds) from cumulative (upper bound, count) buckets."""
    total = buckets[-1][1] if buckets else 0
    if not total:
        return None
    rank, low_bound, low_count = fraction * total, 0.0, 0.0
    for bound, count in buckets:
        if count >= rank:
            if math.isinf(bound):
                return low_bound
            share = (rank - low_count) / (count - low_count) if count > low_count else 1.0
            return low_bound + (bound - low_bound) * share
        low_bound, low_count = bound, count
    return low_bound


def _figures(families: list[Any], service: str) -> dict[str, Any]:
    by_code: dict[str, float] = {}
    buckets: dict[float, float] = {}
    for family in families:
        if family.name == "traefik_service_requests":
            for sample in _for_service(family.samples, service):
                if sample.name.endswith("_total"):
                    code = sample.labels.get("code", "")
                    by_code[code] = by_code.get(code, 0) + sample.value
        elif family.name == "traefik_service_request_duration_seconds":
            for sample in _for_service(family.samples, service):
                if sample.name.endswith("_bucket"):
                    bound = float(sample.labels["le"])
                    buckets[bound] = buckets.get(bound, 0) + sample.value
    return {"by_code": by_code, "buckets": sorted(buckets.items())}


async def metrics(traefik: Traefik, name: str) -> dict[str, Any]:
    view = await traefik.service(name)
    qualified = view.get("name", name)
    async with traefik.lock:
        previous = traefik.samples.get(qualified)
        if previous is None or time.monotonic() - previous[0] > 300:
            first = _figures(await traefik.metric_families(), qualified)
            previous = (time.monotonic(), sum(first["by_code"].values()))
            await asyncio.sleep(RATE_WINDOW)
        current = _figures(await traefik.metric_families(), qualified)
        now, total = time.monotonic(), sum(current["by_code"].values())
        traefik.samples[qualified] = (now, total)
    errors = sum(count for code, count in current["by_code"].items() if code.startswith("5"))
    quantiles = {
        f"p{round(q * 100)}_ms": (
            None if (v := _quantile(current["buckets"], q)) is None else round(v * 1000, 2)
        )
        for q in QUANTILES
    }
    return {
        "service": qualified,
        "requests_total": int(total),
        "requests_by_code": {
            code: int(count) for code, count in sorted(current["by_code"].items())
        },
        "requests_per_second": round(max(total - previous[1], 0) / max(now - previous[0], 1e-6), 3),
        "rate_window_seconds": round(now - previous[0], 3),
        "error_rate": round(errors / total, 4) if total else 0.0,
        "latency": quantiles,
    }


async def lb_stats(traefik: Traefik, name: str) -> dict[str, Any]:
    view = await traefik.service(name)
    statuses = view.get("serverStatus") or {}
    balancer = view.get("loadBalancer") or {}
    stored = None
    if traefik.settings.traefik_dynamic_file and view.get("provider") == "file":
        config = await asyncio.to_thread(dynamic.read, traefik.dynamic_file)
        stored = dynamic.service_entry(config, view["name"].split("@")[0])
    stored_servers = {s.get("url"): s for s in _servers(stored or {})}
    servers = [
        {
            "url": server["url"],
            "weight": server.get("weight", stored_servers.get(server["url"], {}).get("weight", 1)),
            "status": statuses.get(server["url"], "UNKNOWN"),
        }
        for server in _servers(view)
    ]
    return {
        "service": view.get("name", name),
        "type": view.get("type"),
        "status": view.get("status"),
        "servers": servers,
        "servers_up": sum(1 for s in servers if s["status"] == "UP"),
        "pass_host_header": balancer.get("passHostHeader"),
        "sticky": balancer.get("sticky") is not None,
        "health_check": balancer.get("healthCheck"),
        "used_by": view.get("usedBy", []),
    }


async def reload(
    traefik: Traefik, name: str, servers: list[dict[str, Any]] | None
) -> dict[str, Any]:
    """Rewrite the service's entry in the dynamic file and wait until Traefik serves it."""
    bare = name.split("@")[0]
    if "@" in name and not name.endswith("@file"):
        raise TraefikServiceNotFound(
            f"{name!r} is not a file-provider service; it cannot be reloaded here"
        )
    await traefik.service(f"{bare}@file")  # Traefik reachable and the service known
    entry = await asyncio.to_thread(dynamic.rewrite_service, traefik.dynamic_file, bare, servers)
    if entry is None:
        raise TraefikServiceNotFound(f"The dynamic configuration file has no service {bare!r}")
    wanted = [server["url"] for server in _servers(entry)]
    started = time.monotonic()
    while True:
        view = await traefik.service(f"{bare}@file")
        if sorted(server["url"] for server in _servers(view)) == sorted(wanted):
            break
        if time.monotonic() - started > RELOAD_WAIT_SECONDS:
            raise ReloadTimedOut(
                f"Traefik did not pick up the new configuration within {RELOAD_WAIT_SECONDS:.0f} s"
            )
        await asyncio.sleep(0.1)
    return {
        "service": f"{bare}@file",
        "reloaded": True,
        "servers": _servers(entry),
        "waited_ms": round((time.monotonic() - started) * 1000, 1),
    }
