"""Operations: the audit log's cost per request (on and off in one run, paired rounds), and
insights and chain verification over 1,000,000 audit rows.

`audit_log_overhead` starts two fresh Atriums on the CPUs of the run's server, identical but
for `ATRIUM_AUDIT_LOG_ENABLED` (the run's own server has served every other scenario, so its
heap and database differ from a fresh one's), then alternates wrk runs against the two on the
same authenticated read, the order swapped every round; each run's server CPU time includes
the audit writer's flush that follows it (the run waits for it), so the figure is the whole
cost. `audit_log_1m` appends 1,000,000 rows through the writer's own `encode` and `append`
(chain and roll-ups) in batches, then times the insights endpoints (p95 < 200 ms) and a full
verification.
"""

import asyncio
import re
import statistics
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psutil

from bench import admin as admin_setup
from bench.context import BenchContext, ensure_success
from bench.errors import ScenarioFailed, Skip
from bench.registry import Measurement, scenario
from bench.scenarios.usage_analytics import database_of
from bench.servers import atrium_launch, serve, server_env

ROUNDS = 5
RUN_SECONDS = 3
CONNECTIONS = 20
OVERHEAD_LIMIT_PCT = 5.0
ROWS = 1_000_000
BATCH = 5000
P95_LIMIT_MS = 200.0
ROUTES = ("/api/v1/projects", "/v1/chat/completions", "/vault/conversations", "/api/v1/auth/me")


def _cpu_seconds(pid: int) -> float:
    times = psutil.Process(pid).cpu_times()
    return times.user + times.system


async def _wrk(url: str, token: str) -> int:
    process = await asyncio.create_subprocess_exec(
        "taskset", "-c", "1", "wrk", "-t1", f"-c{CONNECTIONS}", f"-d{RUN_SECONDS}s",
        "-H", f"Authorization: Bearer {token}", url,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    output = (await process.communicate())[0].decode()
    found = re.search(r"(\d+) requests in", output)
    if process.returncode or not found:
        raise ScenarioFailed(f"wrk failed: {output[-300:]}")
    if "Non-2xx" in output:
        raise ScenarioFailed(f"wrk saw non-2xx answers: {output[-300:]}")
    return int(found.group(1))


async def _cpu_us_per_request(url: str, token: str, pid: int) -> float:
    before = _cpu_seconds(pid)
    requests = await _wrk(url, token)
    await asyncio.sleep(1.5)  # the audit writer flushes every second: count its work too
    return (_cpu_seconds(pid) - before) * 1e6 / requests


async def _fresh_server(ctx: BenchContext, workdir: Path, name: str, audit: bool):
    import httpx

    credentials = admin_setup.new_credentials()
    extra = {**credentials.env, "ATRIUM_AUDIT_LOG_ENABLED": "true" if audit else "false"}
    env = server_env(workdir / f"atrium-audit-{name}-data", extra)
    cpus = ",".join(str(c) for c in psutil.Process(ctx.server_pid).cpu_affinity())
    server = await ctx.stack.enter_async_context(serve(atrium_launch(workdir, env), cpus, 60.0))
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
        admin = await admin_setup.obtain_admin(client, credentials, env)
    return server, admin.access_token


@scenario(
    "audit_log_overhead",
    description="GET /api/v1/auth/me with the audit log on vs off: server CPU µs/request",
)
async def overhead(ctx: BenchContext) -> Measurement:
    if ctx.server_pid is None:
        raise Skip("no Atrium server in this run")
    workdir = Path(psutil.Process(ctx.server_pid).cwd())
    servers = {}
    for name, audit in (("on", True), ("off", False)):
        servers[name] = await _fresh_server(ctx, workdir, name, audit)
    targets = {name: (f"{server.url}/api/v1/auth/me", token, server.pid)
               for name, (server, token) in servers.items()}  # fmt: skip
    for url, token, _pid in targets.values():
        await _wrk(url, token)  # warm-up
    cpu: dict[str, list[float]] = {"on": [], "off": []}
    for round_ in range(ROUNDS):
        for name in ("on", "off") if round_ % 2 == 0 else ("off", "on"):
            cpu[name].append(await _cpu_us_per_request(*targets[name]))
    cpu_on, cpu_off = statistics.median(cpu["on"]), statistics.median(cpu["off"])
    overhead_pct = 100 * (cpu_on - cpu_off) / cpu_off
    per_round = statistics.median(
        100 * (a - b) / b for a, b in zip(cpu["on"], cpu["off"], strict=True)
    )
    problems = []
    if overhead_pct > OVERHEAD_LIMIT_PCT:
        problems.append(f"audit log costs {overhead_pct:.1f} % more CPU per request (> 5 %)")
    metrics = {"cpu_us_audit_on": cpu_on, "cpu_us_audit_off": cpu_off}
    metrics.update(overhead_pct=overhead_pct, overhead_pct_per_round_median=per_round)
    return Measurement(metrics, problems)


def _environ(pid: int) -> dict[str, str]:
    environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    return dict(item.decode(errors="replace").partition("=")[::2] for item in environ if item)


def _append_seed(connection, chainer, entries: list[tuple]) -> None:
    from atrium.auditlog.batch import encode
    from atrium.auditlog.chain import SqliteTimes
    from atrium.auditlog.writer import append

    # actors for the active-user figures, without links to users that do not exist
    batch = encode(chainer, entries, SqliteTimes().text).without_users()
    with connection.begin():
        append(connection, chainer, batch)


async def _seed(path: Path, pid: int) -> float:
    from atrium.auditlog.chain import Chainer
    from atrium.auditlog.sqlite_thread import SqliteThread
    from atrium.config import Settings
    from atrium.security.secrets import load_secrets

    values = _environ(pid)
    # the server's own keys: given in its environment, or generated in its data directory
    settings = Settings(
        _env_file=None,
        data_dir=path.parent,
        jwt_secret=values.get("ATRIUM_JWT_SECRET"),
        encryption_keys=values.get("ATRIUM_ENCRYPTION_KEYS"),
    )
    secrets = load_secrets(settings)
    chainer = Chainer(secrets.derive("audit-actor"), secrets.derive("audit-chain"))
    thread = SqliteThread(str(path), name="bench-seed")
    started = time.perf_counter()
    first = (datetime.now(UTC) - timedelta(days=89)).timestamp()
    step = timedelta(days=89).total_seconds() / ROWS
    try:
        for offset in range(0, ROWS, BATCH):
            entries = [
                (first + step * n, 1 + n % 50, None, None, "GET", ROUTES[n % 4], ROUTES[n % 4],
                 b"", 500 if n % 97 == 0 else 200, (n * 7919) % 3000 / 3.0, "127.0.0.1",
                 b"bench", f"b{n}")
                for n in range(offset, offset + BATCH)
            ]  # fmt: skip
            await thread.call(_append_seed, chainer, entries)
    finally:
        await asyncio.to_thread(thread.close)
    return time.perf_counter() - started


async def _p95(ctx: BenchContext, path: str, headers: dict[str, str], times: int) -> float:
    timings = []
    for _ in range(times):
        began = time.perf_counter()
        response = await ctx.client.get(path, headers=headers, timeout=120)
        timings.append((time.perf_counter() - began) * 1000)
        ensure_success(response, f"GET {path}")
    timings.sort()
    return timings[max(0, int(0.95 * len(timings)) - 1)]


@scenario("audit_log_1m", description="insights p95 and verify over 1,000,000 audit rows")
async def million(ctx: BenchContext) -> Measurement:
    admin = ctx.require_admin()
    path = database_of(ctx.server_pid)
    seconds = await _seed(path, ctx.server_pid)
    metrics = {"seed_seconds": seconds}
    problems = []
    for name, endpoint in (
        ("vault_insights_90d", "/vault/insights?range=90d"),
        ("vault_insights_7d", "/vault/insights?range=7d"),
        ("api_insights_30d", "/api/v1/insights?range=30d"),
    ):
        p95 = await _p95(ctx, endpoint, admin.headers, 30)
        metrics[f"{name}_p95_ms"] = p95
        if p95 >= P95_LIMIT_MS:
            problems.append(f"{endpoint}: p95 {p95:.0f} ms >= {P95_LIMIT_MS:.0f} ms")
    began, cpu_before = time.perf_counter(), _cpu_seconds(ctx.server_pid)
    response = await ctx.client.get("/api/v1/audit-log/verify", headers=admin.headers, timeout=900)
    metrics["verify_seconds"] = time.perf_counter() - began
    metrics["verify_cpu_seconds"] = _cpu_seconds(ctx.server_pid) - cpu_before
    ensure_success(response, "verifying the chain")
    report = response.json()
    metrics["verify_checked"] = float(report["checked"])
    if not report["valid"] or report["checked"] < ROWS:
        problems.append(f"verify: {report}")
    body = (await ctx.client.get("/vault/insights?range=90d", headers=admin.headers)).json()
    if body["total_requests"] < ROWS:
        problems.append(f"insights count {body['total_requests']} requests, not {ROWS}")
    return Measurement(metrics, problems)
