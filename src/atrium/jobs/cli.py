"""`atrium jobs list | show | cancel` and `atrium worker` (mounted by atrium.cli)."""

import asyncio
import json
from collections.abc import Awaitable, Callable
from importlib import import_module
from typing import Any, TypeVar

import typer

from atrium.config import Settings

jobs_cli = typer.Typer(no_args_is_help=True, help="Inspect and control background jobs.")
T = TypeVar("T")


def _with_session(settings: Settings, work: Callable[[Any], Awaitable[T]]) -> T:
    from atrium.db import Database

    for module in settings.jobs_imports:
        import_module(module)

    async def go() -> T:
        db = Database(settings.resolved_database_url)
        try:
            async with db.sessions() as session:
                result = await work(session)
                await session.commit()
                return result
        finally:
            await db.dispose()

    return asyncio.run(go())


def _line(job: Any) -> str:
    stage = f" - {job.stage}" if job.stage else ""
    return f"{job.id:>8}  {job.kind:<24} {job.status:<10} {job.progress * 100:5.1f}%{stage}"


@jobs_cli.command("list")
def list_jobs(
    status: str | None = typer.Option(None, help="Only jobs in this status."),
    kind: str | None = typer.Option(None, help="Only jobs of this kind."),
    limit: int = typer.Option(50, min=1, max=1000, help="How many, newest first."),
) -> None:
    """List jobs, newest first."""
    from sqlalchemy import select

    from atrium.jobs.schemas import JobRead
    from atrium.jobs.tables import Job

    async def work(session: Any) -> list[JobRead]:
        query = select(Job).order_by(Job.id.desc()).limit(limit)
        if status:
            query = query.where(Job.status == status)
        if kind:
            query = query.where(Job.kind == kind)
        return [JobRead.model_validate(job) for job in await session.scalars(query)]

    for job in _with_session(Settings(), work):
        typer.echo(_line(job))


@jobs_cli.command("show")
def show_job(job_id: int) -> None:
    """Show one job as JSON."""
    from atrium.errors import AtriumError
    from atrium.jobs import service as jobs_service

    try:
        job = _with_session(Settings(), lambda session: jobs_service.get(session, job_id))
    except AtriumError as exc:
        typer.echo(f"error: {exc.detail}", err=True)
        raise typer.Exit(1) from exc
    typer.echo(json.dumps(job.model_dump(mode="json"), indent=2))


@jobs_cli.command("cancel")
def cancel_job(job_id: int) -> None:
    """Cancel a job (a running one stops at its next step)."""
    from atrium.errors import AtriumError
    from atrium.jobs import service as jobs_service

    try:
        job = _with_session(
            Settings(), lambda session: jobs_service.request_cancel(session, job_id)
        )
    except AtriumError as exc:
        typer.echo(f"error: {exc.detail}", err=True)
        raise typer.Exit(1) from exc
    typer.echo(_line(job) + (" (stop requested)" if job.stop_requested else ""))


def worker(
    concurrency: int | None = typer.Option(None, help="Worker threads (default: setting)."),
) -> None:
    """Run a Celery worker for the job engine (Redis broker), sharing the database."""
    import logging.config

    from atrium.jobs.celery_app import broker_url, run_worker
    from atrium.logs import logging_config

    settings = Settings()
    try:
        broker_url(settings)
    except RuntimeError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    if settings.jobs_executor != "celery":
        typer.echo(
            "note: ATRIUM_JOBS_EXECUTOR is not 'celery': API processes run jobs themselves and "
            "send none to this worker; it still recovers orphaned jobs and fires schedules",
            err=True,
        )
    logging.config.dictConfig(logging_config(settings.log_level))
    run_worker(settings, concurrency)
