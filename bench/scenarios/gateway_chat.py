"""Gateway overhead: the same chat completion straight to the upstream and through Atrium.

Throughput at 50 concurrent clients (wrk, side by side, streaming and not), and the added
latency at one client (p50 and p99 over the direct call, measured in the same run;
targets 3 ms and 15 ms).
"""

import json
import statistics
import time

import httpx

from bench.context import BenchContext
from bench.registry import Measurement, Plan, Target, scenario
from bench.scenarios.gateway_upstream import chat_body, upstream_for

ADDED_P50_MS = 3.0
ADDED_P99_MS = 15.0
LATENCY_ROUNDS = 1000
WARMUP_ROUNDS = 100


def _completed(status: int, body: bytes) -> str | None:
    if body.startswith(b"data: "):
        return None if body.rstrip().endswith(b"data: [DONE]") else "a stream without [DONE]"
    return None if b'"choices"' in body else f"not a completion: {body[:80]!r}"


async def _plan(ctx: BenchContext, stream: bool) -> Plan:
    upstream, headers = await upstream_for(ctx)
    body = chat_body(stream)
    through = Target("/v1/chat/completions", "POST", headers=headers, json=body, check=_completed)
    direct = Target("/v1/chat/completions", "POST", json=body, base_url=upstream)
    return Plan(through, compare_to=direct, compare_label="direct")


@scenario("gateway_chat", description="POST /v1/chat/completions vs the upstream direct",
          connections=50)  # fmt: skip
async def chat(ctx: BenchContext) -> Plan:
    return await _plan(ctx, stream=False)


@scenario("gateway_chat_stream", description="Streamed completion vs the upstream direct",
          connections=50)  # fmt: skip
async def chat_stream(ctx: BenchContext) -> Plan:
    return await _plan(ctx, stream=True)


@scenario("gateway_chat_stock", description="gateway_chat on httpx's own transport",
          connections=50, server="stock")  # fmt: skip
async def chat_stock(ctx: BenchContext) -> Plan:
    return await _plan(ctx, stream=False)


@scenario("gateway_chat_stream_stock", description="gateway_chat_stream on httpx's own "
          "transport", connections=50, server="stock")  # fmt: skip
async def chat_stream_stock(ctx: BenchContext) -> Plan:
    return await _plan(ctx, stream=True)


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def _timed(client: httpx.AsyncClient, url: str, headers: dict, payload: bytes) -> float:
    started = time.perf_counter()
    async with client.stream("POST", url, content=payload, headers=headers) as response:
        async for _ in response.aiter_raw():
            pass
        if response.status_code != 200:
            raise RuntimeError(f"{url}: HTTP {response.status_code}")
    return (time.perf_counter() - started) * 1000


async def _added_latency(ctx: BenchContext, stream: bool) -> Measurement:
    upstream, auth = await upstream_for(ctx)
    payload = json.dumps(chat_body(stream)).encode()
    headers = {"Content-Type": "application/json"}
    direct_url = f"{upstream}/v1/chat/completions"
    gateway_url = f"{ctx.base_url}/v1/chat/completions"
    direct: list[float] = []
    through: list[float] = []
    async with httpx.AsyncClient(timeout=30) as client:
        for round_ in range(WARMUP_ROUNDS + LATENCY_ROUNDS):
            # alternate, so that both see the same machine state
            d = await _timed(client, direct_url, headers, payload)
            g = await _timed(client, gateway_url, {**headers, **auth}, payload)
            if round_ >= WARMUP_ROUNDS:
                direct.append(d)
                through.append(g)
    metrics = {
        "direct_p50_ms": statistics.median(direct),
        "direct_p99_ms": _percentile(direct, 0.99),
        "gateway_p50_ms": statistics.median(through),
        "gateway_p99_ms": _percentile(through, 0.99),
    }
    metrics["added_p50_ms"] = metrics["gateway_p50_ms"] - metrics["direct_p50_ms"]
    metrics["added_p99_ms"] = metrics["gateway_p99_ms"] - metrics["direct_p99_ms"]
    problems = []
    if metrics["added_p50_ms"] > ADDED_P50_MS:
        problems.append(f"added p50 {metrics['added_p50_ms']:.2f} ms > {ADDED_P50_MS} ms")
    if metrics["added_p99_ms"] > ADDED_P99_MS:
        problems.append(f"added p99 {metrics['added_p99_ms']:.2f} ms > {ADDED_P99_MS} ms")
    return Measurement(metrics, problems)


@scenario("gateway_added_latency", description="Added p50/p99 at one client, non-streamed")
async def added_latency(ctx: BenchContext) -> Measurement:
    return await _added_latency(ctx, stream=False)


@scenario("gateway_added_latency_stream", description="Added p50/p99 at one client, streamed")
async def added_latency_stream(ctx: BenchContext) -> Measurement:
    return await _added_latency(ctx, stream=True)
