"""Discovery as a job on the job engine: the job runs `run_discovery`, which records its
outcome on the account's discovery run; a failed discovery fails the job with its cause."""

from typing import Any

from atrium.cloud.discovery import run_discovery
from atrium.jobs.runners import JobContext, runner

DISCOVERY = "cloud.discovery"


@runner(DISCOVERY, concurrency=2, max_attempts=1, resource="cloud")
async def discover(ctx: JobContext) -> dict[str, Any]:
    result = await run_discovery(ctx)
    if result["status"] == "failed":
        raise RuntimeError(result["error"])
    return result
