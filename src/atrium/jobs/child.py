"""CPU-heavy runners under the local executor run in a subprocess of their own.

The parent has claimed the job; the child builds the same app from the parent's settings,
takes over the claim token and runs the runner (renewing the lease itself), so the API's
event loop stays free. If the child dies, the lease expires and the job is re-queued from
its checkpoint like any other crash.

    python -m atrium.jobs.child   (settings, job and token as JSON on stdin)
"""

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from atrium.config import Settings


def settings_to_json(settings: Settings) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name in type(settings).model_fields:
        value = getattr(settings, name)
        if isinstance(value, SecretStr):
            value = value.get_secret_value()
        elif isinstance(value, Path):
            value = str(value)
        values[name] = value
    return values


async def run_in_subprocess(engine: Any, job: Any) -> str:
    """Run `job` (claimed by `engine`) in a child process; its outcome from the row."""
    from atrium.jobs import service as jobs_service

    message = {
        "settings": settings_to_json(engine.settings),
        "token": engine.store.token,
        "job": {
            "id": job.id,
            "kind": job.kind,
            "owner_id": job.owner_id,
            "payload": job.payload,
            "attempts": job.attempts,
            "checkpoint": job.checkpoint,
            "control": job.control,
        },
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "atrium.jobs.child", stdin=asyncio.subprocess.PIPE
    )
    try:
        await process.communicate(json.dumps(message).encode())
    except asyncio.CancelledError:
        process.kill()  # shutting down: the lease expires and another process resumes it
        raise
    async with engine.sessions() as session:
        return (await jobs_service.get(session, job.id)).status


async def _child_main(message: dict[str, Any]) -> None:
    from atrium.app import create_app
    from atrium.jobs.runners import get_runner
    from atrium.jobs.store import ClaimedJob

    settings = Settings(_env_file=None, **message["settings"])  # type: ignore[arg-type]
    app = create_app(settings)
    app.state.jobs_role = "child"
    async with app.router.lifespan_context(app):
        engine = app.state.jobs
        engine.store.token = message["token"]
        job = ClaimedJob(**message["job"])
        found = get_runner(job.kind)
        if found is None:
            await engine.store.release(job.id)
            return
        await engine.run_here(found, job)


def main() -> None:
    message = json.loads(sys.stdin.read())
    asyncio.run(_child_main(message))


if __name__ == "__main__":
    main()
