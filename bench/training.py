"""Trainer benchmark: `python -m bench.training [--steps 200]` (needs atrium[training]).

1. the loop alone: the tiny model of the tests (one-layer GPT-2, 32 wide, LoRA rank 8, batch
   4) trained in this process for N steps: steps/s and tokens/s of `FineTune.train_step`;
2. through the product: an `atrium serve` process on SQLite; a job created over HTTP runs in
   its own child process (the local executor's CPU-heavy path): the time from the POST's answer
   to the first step's `metrics` event (process start, imports, model load, first step), and
   steps/s and tokens/s between the first and the last step's events (each step's metrics
   event, progress and stop check included).
The loop runs with torch's default threads and with one (`ATRIUM_TRAINING_CPU_THREADS`): on a
busy machine OpenMP's spinning threads can make the default many times slower.
"""

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
JWT = "bench-signing-key-" + "x" * 32
FERNET = "aNWvxx8ROlGIUdSAJQ1sxP9yeVSxdrZK5X7ynC1JzYY="
CONFIG = {"epochs": 1, "batch_size": 4, "learning_rate": 0.01, "warmup_steps": 0,
          "weight_decay": 0.0, "optimizer": "adamw", "scheduler": "constant", "max_length": 64,
          "checkpoint_every": 1000, "eval_fraction": 0.0, "seed": 0}  # fmt: skip
LORA = {"rank": 8, "alpha": 16, "dropout": 0.0}


def bench_loop(model: Path, steps: int, threads: int | None) -> str:
    from atrium.training import loop
    from tests.training.helpers import rows

    spec = loop.Spec(str(model), "lora", LORA, {**CONFIG, "max_steps": steps}, threads)
    fine = loop.FineTune(spec, rows(), None)
    fine.train_step()  # warm-up: first-call allocations
    tokens = 0
    started = time.perf_counter()
    for _ in range(steps):
        tokens += fine.train_step()["tokens"]
    elapsed = time.perf_counter() - started
    return f"{steps / elapsed:.1f} steps/s, {tokens / elapsed:.0f} tokens/s over {steps} steps"


async def _events(settings, job_id: int, steps: int) -> list:
    from atrium.db import Database
    from atrium.jobs import service as jobs_service

    db = Database(settings.resolved_database_url)
    try:
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            async with db.sessions() as session:
                job = await jobs_service.get(session, job_id)
                events = await jobs_service.events_after(session, job_id, 0, 100_000)
            if job.status in ("completed", "failed", "cancelled"):
                if job.status != "completed":
                    raise RuntimeError(f"the job {job.status}: {job.error}")
                return [event for event in events if event.type == "metrics"]
            await asyncio.sleep(0.2)
        raise RuntimeError("the job did not finish within 10 minutes")
    finally:
        await db.dispose()


async def _user(settings) -> tuple[int, str]:
    from atrium.db import Database, commit
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
            role="developer",
        )
        await commit(session)
    await db.dispose()
    token = issue_access_token(
        load_secrets(settings).jwt_key, user_id=user.id, role="developer",
        lifetime=timedelta(hours=1),
    )  # fmt: skip
    return user.id, token


def bench_product(root: Path, steps: int, threads: int | None) -> str:
    import httpx

    from atrium.config import Settings
    from atrium.migrate import upgrade
    from tests.jobs.processes import start_server
    from tests.training.helpers import BASE_MODEL, build_tiny_model, jsonl, rows

    root.mkdir(parents=True, exist_ok=True)
    url = f"sqlite+aiosqlite:///{root / 'atrium.db'}"
    upgrade(url)
    settings = Settings(
        _env_file=None, data_dir=root, database_url=url, jwt_secret=JWT, encryption_keys=FERNET,
        log_requests=False, log_level="WARNING", jobs_poll_seconds=0.05,
        training_cpu_threads=threads,
    )  # fmt: skip
    build_tiny_model(root / "models" / BASE_MODEL)
    _user_id, token = asyncio.run(_user(settings))
    headers = {"Authorization": f"Bearer {token}"}
    server, base = start_server(settings, root / "server.log")
    try:
        with httpx.Client(base_url=base, headers=headers, timeout=60) as client:
            upload = client.post(
                "/api/v1/upload", files={"file": ("train.jsonl", jsonl(rows()), "text/plain")}
            )
            body = {"name": "bench", "model": BASE_MODEL, "dataset": upload.json()["id"],
                    "lora_config": LORA, "config": {**CONFIG, "max_steps": steps}}  # fmt: skip
            created = client.post("/api/v1/training/jobs", json=body)
            answered = datetime.now(UTC)
            created.raise_for_status()
        events = asyncio.run(_events(settings, int(created.json()["job_id"]), steps))
    finally:
        server.stop()
    first, last = events[0], events[-1]
    to_first = (first.created_at - answered).total_seconds()
    span = max((last.created_at - first.created_at).total_seconds(), 1e-9)
    rates = [event.data["data"]["tokens_per_second"] for event in events]
    return (
        f"create to first step {to_first:.2f} s; {(len(events) - 1) / span:.1f} steps/s "
        f"end to end over {len(events)} steps; loop tokens/s median {statistics.median(rates):.0f}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=200)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    from tests.training.helpers import BASE_MODEL, MISSING, REASON, build_tiny_model

    if MISSING:
        print(REASON)
        return 1
    root = Path(tempfile.mkdtemp(prefix="atrium-bench-training-"))
    model = build_tiny_model(root / "loop-model" / BASE_MODEL)
    import torch

    default = torch.get_num_threads()
    for threads in (None, 1):
        shown = f"{threads} thread" if threads else f"torch's default, {default} threads"
        print(
            f"loop alone (tiny model, LoRA, CPU, {shown}): {bench_loop(model, args.steps, threads)}"
        )
        torch.set_num_threads(default)
    print(f"through the product (1 thread): {bench_product(root / 'product', args.steps, 1)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
