"""Analytics over 1,000,000 usage records: every /llm/usage/* endpoint, p95 < 300 ms.

The records are bulk-inserted into the running server's SQLite database, then the daily
roll-ups are rebuilt with the same function a bulk import uses (`rebuild_rollups`); the
endpoints read only the roll-ups, which the gateway keeps current as records arrive.
"""

import asyncio
import os
import random
import sqlite3
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench.context import BenchContext, ensure_success
from bench.errors import ScenarioFailed, Skip
from bench.registry import Measurement, scenario

RECORDS = 1_000_000
USERS = 20
DAYS = 90
REQUESTS_PER_ENDPOINT = 30
P95_LIMIT_MS = 300.0
MODELS = (
    ("openai", "gpt-4o", 2.5, 10.0),
    ("openai", "gpt-4o-mini", 0.15, 0.6),
    ("anthropic", "claude-sonnet-4-20250514", 3.0, 15.0),
    ("anthropic", "claude-3-5-haiku-20241022", 0.8, 4.0),
    ("google", "gemini-2.5-flash", 0.3, 2.5),
    ("cohere", "command-r-08-2024", 0.15, 0.6),
    ("vllm", "Qwen/Qwen2.5-7B-Instruct", 0.0, 0.0),
    ("ollama", "llama3.2", 0.0, 0.0),
)
ENDPOINTS = (
    "/api/v1/llm/usage/overview?days=30",
    "/api/v1/llm/usage/by-model?days=30",
    "/api/v1/llm/usage/by-user?days=30",
    "/api/v1/llm/usage/costs?days=30",
    "/api/v1/llm/usage/history?days=7",
    "/api/v1/llm/usage/top-users?limit=10",
    "/api/v1/llm/usage/top-models?limit=10",
    "/api/v1/llm/usage/forecasts?days=30",
    "/api/v1/llm/usage/overview?days=90",
    "/api/v1/usage/stats",
    "/api/v1/usage/history?days=30",
)
INSERT = (
    "INSERT INTO usage_record (user_id, key_id, provider_id, provider, provider_type, model, "
    "origin, endpoint, stream, prompt_tokens, completion_tokens, estimated, cost_usd, "
    "latency_ms, ttft_ms, status, status_code, error, created_at) "
    "VALUES (?, NULL, NULL, ?, ?, ?, 'bench', 'chat', ?, ?, ?, 0, ?, ?, ?, ?, ?, ?, ?)"
)


def database_of(pid: int | None) -> Path:
    """The running server's SQLite file, from its environment (the harness's data dir)."""
    if pid is None:
        raise Skip("no Atrium server in this run")
    environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    values = dict(item.decode(errors="replace").partition("=")[::2] for item in environ if item)
    if values.get("ATRIUM_DATABASE_URL"):
        raise Skip("the bulk import writes SQLite files only")
    data_dir = Path(values.get("ATRIUM_DATA_DIR", "data"))
    if not data_dir.is_absolute():
        data_dir = Path(os.readlink(f"/proc/{pid}/cwd")) / data_dir
    path = data_dir / "atrium.db"
    if not path.exists():
        raise ScenarioFailed(f"no database at {path}")
    return path


async def users_for(ctx: BenchContext) -> list[int]:
    stamp = int(time.time())
    ids = []
    for n in range(USERS):
        response = await ctx.client.post(
            "/api/v1/auth/register",
            json={"email": f"bench{stamp}-{n}@example.com", "username": f"bench{stamp}_{n}",
                  "password": "Bench-pass-12345"},
        )  # fmt: skip
        ensure_success(response, "registering bench users")
        body = response.json()
        ids.append(int((body.get("user") or body)["id"]))
    return ids


def rows(user_ids: list[int]) -> list[tuple]:
    rng = random.Random(42)
    now = datetime.now(UTC).replace(tzinfo=None)
    out = []
    for _ in range(RECORDS):
        provider_type, model, price_in, price_out = rng.choice(MODELS)
        prompt, completion = rng.randint(20, 2000), rng.randint(5, 800)
        ok = rng.random() > 0.03
        created = now - timedelta(seconds=rng.randint(0, DAYS * 86400))
        out.append((
            rng.choice(user_ids), provider_type, provider_type, model, rng.random() < 0.5,
            prompt, completion, (prompt * price_in + completion * price_out) / 1e6,
            rng.randint(80, 4000), rng.randint(50, 600), "ok" if ok else "error",
            200 if ok else 502, None if ok else "upstream_error: bench",
            created.isoformat(sep=" "),
        ))  # fmt: skip
    return out


def bulk_insert(path: Path, records: list[tuple]) -> None:
    connection = sqlite3.connect(path, timeout=60)
    try:
        connection.execute("PRAGMA busy_timeout=60000")
        with connection:
            connection.executemany(INSERT, records)
    finally:
        connection.close()


async def rebuild(path: Path) -> int:
    from atrium.db import Database
    from atrium.usage.writer import rebuild_rollups

    database = Database(f"sqlite+aiosqlite:///{path}")
    try:
        async with database.sessions() as session:
            count = await rebuild_rollups(session)
            await session.commit()
            return count
    finally:
        await database.dispose()


@scenario(
    "usage_analytics",
    description="/llm/usage/* over 1,000,000 records (p95 < 300 ms); seeding takes minutes, "
    "so only with --all or --only",
    in_default_run=False,
)
async def setup(ctx: BenchContext) -> Measurement:
    admin = ctx.require_admin()
    path = database_of(ctx.server_pid)
    user_ids = await users_for(ctx)
    started = time.perf_counter()
    records = await asyncio.to_thread(rows, user_ids)
    await asyncio.to_thread(bulk_insert, path, records)
    del records
    rollup_rows = await rebuild(path)
    metrics: dict[str, float] = {
        "seed_seconds": time.perf_counter() - started,
        "rollup_rows": float(rollup_rows),
    }
    problems = []
    for endpoint in ENDPOINTS:
        timings = []
        for _ in range(REQUESTS_PER_ENDPOINT):
            began = time.perf_counter()
            response = await ctx.client.get(endpoint, headers=admin.headers)
            timings.append((time.perf_counter() - began) * 1000)
            ensure_success(response, f"GET {endpoint}")
        timings.sort()
        p95 = timings[int(0.95 * len(timings)) - 1]
        name = endpoint.removeprefix("/api/v1/").replace("/", "_").replace("?", "_")
        metrics[f"{name}_p95_ms"] = p95
        if p95 >= P95_LIMIT_MS:
            problems.append(f"{endpoint}: p95 {p95:.0f} ms >= {P95_LIMIT_MS:.0f} ms")
    overview = (await ctx.client.get(ENDPOINTS[-3], headers=admin.headers)).json()
    if overview.get("total_calls", 0) < RECORDS * 0.99:
        problems.append(f"overview counts {overview.get('total_calls')} calls, not {RECORDS}")
    return Measurement(metrics, problems)
