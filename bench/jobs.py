"""Job engine benchmark: `python -m bench.jobs [--jobs 1000] [--skip-celery]`.

1. local executor on SQLite: N no-op jobs enqueued through the jobs service (one
   transaction each) in the API process, jobs/s from the first enqueue to the last completed;
2. Celery on PostgreSQL + Redis with one `atrium worker` process, the same measure;
3. event latency: a runner in an `atrium serve` process calls progress() with the send time
   as its stage; a WebSocket client on /ws/jobs/{id} reports receive - send (p50, p95, p99).

Beside jobs/s, the CPU time each job cost the measured processes (this one; the worker): on a
shared machine other load moves jobs/s, not what a job costs.
"""

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from atrium.jobs.runners import JobContext, runner
from bench.cpu import cpu_seconds

ROOT = Path(__file__).resolve().parents[1]
JWT = "bench-signing-key-" + "x" * 32
FERNET = "aNWvxx8ROlGIUdSAJQ1sxP9yeVSxdrZK5X7ynC1JzYY="


@runner("bench.noop", concurrency=64)
async def run_noop(ctx: JobContext) -> None:
    return None


@runner("bench.ticks", concurrency=4)
async def run_ticks(ctx: JobContext) -> dict:
    for _ in range(int(ctx.payload.get("ticks", 200))):
        await ctx.progress(0.5, stage=f"{time.time():.6f}")
        await asyncio.sleep(0.005)
    return {}


def _settings(data_dir: Path, database_url: str, **extra):
    from atrium.config import Settings

    return Settings(
        _env_file=None,
        data_dir=data_dir,
        database_url=database_url,
        jwt_secret=JWT,
        encryption_keys=FERNET,
        log_requests=False,
        log_level="WARNING",
        jobs_imports=["bench.jobs"],
        **extra,
    )


@dataclass
class Throughput:
    """Jobs per second, and the CPU each job cost each measured process (µs per job)."""

    jobs_per_second: float
    cpu_micros: dict[str, float]

    def __str__(self) -> str:
        cpu = ", ".join(f"{name} {micros:,.0f}" for name, micros in self.cpu_micros.items())
        return f"{self.jobs_per_second:.0f} jobs/s; CPU µs per job: {cpu}"


async def _throughput(settings, count: int, others: dict[str, int] | None = None) -> Throughput:
    """`others`: processes whose CPU is measured beside this one's (name -> pid)."""
    from sqlalchemy import func, select

    from atrium.app import create_app
    from atrium.db import commit
    from atrium.jobs import service as jobs_service
    from atrium.jobs.tables import Job

    pids = {"this process": os.getpid(), **(others or {})}
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        sessions = app.state.db.sessions
        cpu_before = {name: cpu_seconds(pid) for name, pid in pids.items()}
        started = time.perf_counter()
        for _ in range(count):
            async with sessions() as session:
                await jobs_service.enqueue(session, kind="bench.noop", owner_id=None)
                await commit(session)
        while True:
            async with sessions() as session:
                done = await session.scalar(
                    select(func.count()).where(Job.kind == "bench.noop", Job.status == "completed")
                )
            if done >= count:
                elapsed = time.perf_counter() - started
                cpu = {
                    name: (cpu_seconds(pid) - cpu_before[name]) * 1e6 / count
                    for name, pid in pids.items()
                }
                return Throughput(count / elapsed, cpu)
            await asyncio.sleep(0.01)


def bench_local(count: int) -> Throughput:
    from atrium.migrate import upgrade

    root = Path(tempfile.mkdtemp(prefix="atrium-bench-jobs-"))
    url = f"sqlite+aiosqlite:///{root / 'atrium.db'}"
    upgrade(url)
    return asyncio.run(_throughput(_settings(root, url, jobs_poll_seconds=1.0), count))


def _env(settings) -> dict[str, str]:
    from tests.jobs.processes import env_of

    return env_of(settings)


def bench_celery(count: int) -> Throughput | str:
    from atrium.migrate import upgrade
    from tests import services

    server, redis = services.postgres_server(), services.redis_server()
    if server is None or redis is None:
        return "skipped: PostgreSQL or Redis not available"
    name = f"atrium_bench_{uuid.uuid4().hex[:8]}"
    url = services.create_database(server, name)
    root = Path(tempfile.mkdtemp(prefix="atrium-bench-celery-"))
    try:
        upgrade(url)
        settings = _settings(
            root,
            url,
            redis_url=redis,
            jobs_executor="celery",
            celery_queue=f"atrium-bench-{uuid.uuid4().hex[:8]}",
        )
        from tests.jobs.processes import start_worker

        worker = start_worker(settings, root / "worker.log", log_level="INFO")  # "ready."
        try:
            return asyncio.run(_throughput(settings, count, {"worker": worker.popen.pid}))
        finally:
            worker.stop()
    finally:
        services.drop_database(server, name)


async def _latency(base: str, settings, ticks: int) -> list[float]:
    import websockets

    from atrium.db import Database, commit
    from atrium.jobs import service as jobs_service
    from atrium.security.secrets import load_secrets
    from atrium.security.tokens import issue_access_token
    from atrium.users import service as users_service

    db = Database(settings.resolved_database_url)
    async with db.sessions() as session:
        user = await users_service.create_user(
            session,
            email=f"bench-{uuid.uuid4().hex[:6]}@example.com",
            username=f"bench_{uuid.uuid4().hex[:6]}",
            password=uuid.uuid4().hex,
            role="admin",
        )
        job = await jobs_service.enqueue(
            session, kind="bench.ticks", owner_id=user.id, payload={"ticks": ticks}
        )
        await commit(session)
    await db.dispose()
    from datetime import timedelta

    token = issue_access_token(
        load_secrets(settings).jwt_key, user_id=user.id, role="admin", lifetime=timedelta(hours=1)
    )
    latencies = []
    url = base.replace("http", "ws") + f"/ws/jobs/{job.id}?token={token}"
    async with websockets.connect(url) as socket:
        async for raw in socket:
            import json

            message = json.loads(raw)
            if message["type"] == "progress":
                latencies.append(time.time() - float(message["stage"]))
    return latencies


def bench_latency(ticks: int) -> str:
    from atrium.migrate import upgrade
    from tests.jobs.processes import start_server

    root = Path(tempfile.mkdtemp(prefix="atrium-bench-events-"))
    url = f"sqlite+aiosqlite:///{root / 'atrium.db'}"
    upgrade(url)
    settings = _settings(root, url, jobs_poll_seconds=0.05)
    server, base = start_server(settings, root / "server.log")
    try:
        values = sorted(asyncio.run(_latency(base, settings, ticks)))
    finally:
        server.stop()
    p50 = statistics.median(values) * 1000
    p95 = values[min(len(values) - 1, int(len(values) * 0.95))] * 1000
    p99 = values[min(len(values) - 1, int(len(values) * 0.99))] * 1000
    return (
        f"p50 {p50:.2f} ms, p95 {p95:.2f} ms, p99 {p99:.2f} ms over {len(values)} progress events"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--ticks", type=int, default=200)
    parser.add_argument("--skip-celery", action="store_true")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("ATRIUM_JOBS_IMPORTS", "bench.jobs")
    print(f"local executor, SQLite (target >= 500 jobs/s): {bench_local(args.jobs)}", flush=True)
    if not args.skip_celery:
        result = bench_celery(args.jobs)
        print(f"celery executor, PostgreSQL + Redis, one worker (target >= 200 jobs/s): {result}")
    print(f"event latency progress() -> WebSocket: {bench_latency(args.ticks)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
