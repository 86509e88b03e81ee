"""Runners the job tests use (imported by test apps, workers and servers through
ATRIUM_JOBS_IMPORTS=tests.jobs.runners)."""

import asyncio
import os
import time
from pathlib import Path

from atrium.jobs.runners import JobContext, RetryableJobError, runner

GATE_WAIT_SECONDS = 60.0


async def _wait_for_gate(gate: Path) -> None:
    deadline = time.monotonic() + GATE_WAIT_SECONDS
    while not await asyncio.to_thread(gate.exists):
        if time.monotonic() > deadline:
            raise TimeoutError(f"gate {gate} never opened")
        await asyncio.sleep(0.02)


def _append(path: str, line: str) -> None:
    with open(path, "a") as handle:
        handle.write(line)


@runner("test.steps", concurrency=8, resource="projects")
async def run_steps(ctx: JobContext) -> dict:
    """`steps` steps; each waits for `{gate_dir}/go-{i}` when a gate is given, appends `i`
    to `{log}`, reports progress and checkpoints, then honours pause and cancel."""
    steps = int(ctx.payload.get("steps", 3))
    gate_dir = ctx.payload.get("gate_dir")
    log = ctx.payload.get("log")
    start = (ctx.checkpoint_state or {}).get("next", 0)
    for step in range(start, steps):
        if gate_dir:
            await _wait_for_gate(Path(gate_dir) / f"go-{step}")
        if log:
            await asyncio.to_thread(_append, log, f"{step}\n")
        await ctx.progress((step + 1) / steps, stage=f"step {step + 1} of {steps}")
        await ctx.checkpoint({"next": step + 1})
        if await ctx.should_stop():
            return ctx.stopped()
    return {"steps": steps, "pid": os.getpid()}


@runner("test.flaky", resource="projects", max_attempts=3)
async def run_flaky(ctx: JobContext) -> dict:
    if ctx.attempt < int(ctx.payload.get("succeed_on", 2)):
        raise RetryableJobError(f"hiccup on attempt {ctx.attempt}")
    return {"attempt": ctx.attempt}


@runner("test.fail", resource="projects")
async def run_fail(ctx: JobContext) -> dict:
    raise ValueError("boom")


@runner("test.emit", resource="projects")
async def run_emit(ctx: JobContext) -> dict:
    await ctx.emit("test.note", {"files": 120})
    return {}


@runner("test.heavy", resource="projects", cpu_heavy=True, concurrency=1)
async def run_heavy(ctx: JobContext) -> dict:
    total = sum(i * i for i in range(200_000))
    await ctx.progress(1.0, stage="summed")
    return {"pid": os.getpid(), "total": total}


@runner("test.system")
async def run_system(ctx: JobContext) -> dict:
    return {}


@runner("test.noop", concurrency=16, resource="projects")
async def run_noop(ctx: JobContext) -> None:
    return None
