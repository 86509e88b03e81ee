"""Posting chat messages (seed 004) with an upstream that answers at once: per message the
user message is stored, the history and attachments read, the context built, the gateway
called and the reply stored. Target: at least 200 messages/s.

Chats are realistic in length: each of 16 clients opens a conversation, posts 10 messages in
turn (so histories grow to 20 messages), then opens the next. wrk cannot vary the path, so
this scenario drives the load itself, from the CPUs the server does not use.
"""

import asyncio
import os
import time

import httpx

from bench.context import BenchContext, ensure_success
from bench.cpu import CpuMeter
from bench.errors import ScenarioFailed
from bench.registry import Measurement, scenario
from bench.scenarios.gateway_upstream import MODEL, upstream_for

CLIENTS = 16
TURNS = 10
DURATION_S = 10.0
WARMUP_S = 2.0
TARGET_PER_S = 200
BODY = {"content": "Say hello.", "internet_enabled": False, "files": []}


def _pin_away_from(pid: int | None) -> set[int] | None:
    """Run this process on the CPUs the server is not pinned to; returns the old affinity."""
    if pid is None:
        return None
    previous = os.sched_getaffinity(0)
    others = set(range(os.cpu_count() or 1)) - os.sched_getaffinity(pid)
    if others:
        os.sched_setaffinity(0, others)
    return previous


async def _client(
    http: httpx.AsyncClient, headers: dict[str, str], until: float, counts: list[int]
) -> None:
    while time.monotonic() < until:
        created = await http.post(
            "/api/v1/conversations", json={"title": "Bench chat", "model": MODEL}, headers=headers
        )
        ensure_success(created, "creating a conversation")
        path = f"/api/v1/conversations/{created.json()['id']}/messages"
        for _ in range(TURNS):
            response = await http.post(path, json=BODY, headers=headers)
            if response.status_code != 200:
                raise ScenarioFailed(f"posting a message: HTTP {response.status_code}")
            counts[0] += 1
            if time.monotonic() >= until:
                return


async def _run(ctx: BenchContext, headers: dict[str, str], seconds: float) -> tuple[float, int]:
    counts = [0]
    limits = httpx.Limits(max_connections=CLIENTS, max_keepalive_connections=CLIENTS)
    async with httpx.AsyncClient(base_url=ctx.base_url, timeout=30, limits=limits) as http:
        started = time.monotonic()
        until = started + seconds
        await asyncio.gather(*(_client(http, headers, until, counts) for _ in range(CLIENTS)))
        return counts[0] / (time.monotonic() - started), counts[0]


@scenario(
    "workspace_message",
    description="POST /api/v1/conversations/{id}/messages, 16 chats, immediate upstream "
    "(target >= 200/s)",
)
async def setup(ctx: BenchContext) -> Measurement:
    _upstream, headers = await upstream_for(ctx)
    previous = _pin_away_from(ctx.server_pid)
    try:
        await _run(ctx, headers, WARMUP_S)
        cpu = CpuMeter(ctx.server_pid)
        cpu.start()
        rate, count = await _run(ctx, headers, DURATION_S)
        cpu.stop()
    finally:
        if previous is not None:
            os.sched_setaffinity(0, previous)
    problems = [] if rate >= TARGET_PER_S else [f"{rate:.0f} messages/s < {TARGET_PER_S}/s"]
    metrics = {"messages_per_s": rate}
    per_message = cpu.micros_per(count)
    if per_message is not None:
        metrics["server_cpu_us_per_message"] = per_message
    return Measurement(metrics, problems)
