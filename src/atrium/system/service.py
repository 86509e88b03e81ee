"""Services and their availability: what this process can check (database, Redis, the
inference provider behind the default model, the audit log writer), sampled over time."""

import asyncio
import logging
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text

log = logging.getLogger("atrium.system")
PROBE_TTL = 10.0
PROBE_TIMEOUT = 3.0  # Redis
HISTORY_SECONDS = 30 * 86400
SAMPLE_EVERY = 60.0


@dataclass(frozen=True, slots=True)
class ServiceState:
    name: str
    status: str  # running | down | not_configured
    detail: str | None = None
    uptime_seconds: float | None = None


class InferenceProbe:
    """Whether the provider serving the default model answers, whatever its type; asked at
    most every PROBE_TTL seconds."""

    def __init__(self) -> None:
        self.checked_at = -PROBE_TTL
        self.result: ServiceState = ServiceState("inference", "not_configured")
        self.lock = asyncio.Lock()

    async def state(self, gateway: Any) -> ServiceState:
        async with self.lock:
            if time.monotonic() - self.checked_at < PROBE_TTL:
                return self.result
            self.result = await self._probe(gateway)
            self.checked_at = time.monotonic()
            return self.result

    async def _probe(self, gateway: Any) -> ServiceState:
        health = await gateway.inference_health()
        return ServiceState("inference", health.status, health.detail)


async def _database(state: Any) -> ServiceState:
    try:
        async with state.db.engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
    except Exception as exc:
        return ServiceState("database", "down", f"{type(exc).__name__}: {exc}"[:300])
    return ServiceState("database", "running", state.db.engine.dialect.name)


async def _redis(state: Any) -> ServiceState:
    if state.redis is None:
        return ServiceState("redis", "not_configured", "ATRIUM_REDIS_URL is not set")
    try:
        async with asyncio.timeout(PROBE_TIMEOUT):
            await state.redis.ping()
    except Exception as exc:
        return ServiceState("redis", "down", f"{type(exc).__name__}: {exc}"[:300])
    return ServiceState("redis", "running")


def _audit_writer(state: Any) -> ServiceState:
    writer = getattr(state, "audit_log", None)
    if writer is None or not state.settings.audit_log_enabled:
        return ServiceState("audit_log", "not_configured", "ATRIUM_AUDIT_LOG_ENABLED is false")
    task = writer.task
    running = task is not None and not task.done()
    detail = f"{writer.depth} queued, {writer.written} written"
    return ServiceState("audit_log", "running" if running else "down", detail)


class ServiceMonitor:
    """Checks the services and keeps up/down samples (this process, up to 30 days) from which
    availability and incidents are computed."""

    def __init__(self, state: Any) -> None:
        self.state = state
        self.probe = InferenceProbe()
        self.samples: dict[str, deque[tuple[float, bool]]] = {}
        self.task: asyncio.Task | None = None

    def api_uptime(self) -> float:
        started = getattr(self.state, "started_monotonic", None)
        return round(time.monotonic() - started, 3) if started else 0.0

    async def check(self) -> list[ServiceState]:
        api = ServiceState("api", "running", uptime_seconds=self.api_uptime())
        states = [
            api,
            await _database(self.state),
            await _redis(self.state),
            await self.probe.state(self.state.gateway),
            _audit_writer(self.state),
        ]
        now = time.time()
        for state in states:
            if state.status != "not_configured":
                history = self.samples.setdefault(state.name, deque())
                history.append((now, state.status == "running"))
                while history and history[0][0] < now - HISTORY_SECONDS:
                    history.popleft()
        return states

    def availability(self, name: str, hours: int) -> float | None:
        since = time.time() - hours * 3600
        window = [ok for at, ok in self.samples.get(name, ()) if at >= since]
        return round(100 * sum(window) / len(window), 3) if window else None

    def incidents(self, hours: int) -> int:
        since = time.time() - hours * 3600
        count = 0
        for history in self.samples.values():
            previous = True
            for at, ok in history:
                if at >= since and previous and not ok:
                    count += 1
                previous = ok
        return count

    async def run(self) -> None:
        while True:
            try:
                await self.check()
            except Exception:
                log.exception("service check failed")
            await asyncio.sleep(SAMPLE_EVERY)

    def start(self) -> None:
        if self.task is None:
            self.task = asyncio.get_running_loop().create_task(self.run())

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            self.task = None
