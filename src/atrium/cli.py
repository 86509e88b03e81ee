"""`atrium serve | migrate | users create | jobs list|show|cancel | worker | audit |
models pull`."""

import asyncio
import getpass
import os
import sys
from pathlib import Path

import typer
import uvicorn

from atrium import datadir
from atrium.config import Settings
from atrium.jobs.cli import jobs_cli
from atrium.jobs.cli import worker as jobs_worker
from atrium.logs import logging_config
from atrium.modelhub.cli import models_cli

cli = typer.Typer(no_args_is_help=True, add_completion=False, help="Atrium platform backend.")
users_cli = typer.Typer(no_args_is_help=True, help="Manage user accounts.")
cli.add_typer(users_cli, name="users")
cli.add_typer(jobs_cli, name="jobs")
cli.add_typer(models_cli, name="models")
cli.command("worker")(jobs_worker)


def _prepare(settings: Settings) -> None:
    from atrium.migrate import upgrade
    from atrium.security.secrets import load_secrets

    os.umask(0o077)  # whatever else the process writes is private too
    datadir.secure(settings)
    load_secrets(settings)
    upgrade(settings.resolved_database_url)


@cli.command()
def migrate() -> None:
    """Apply every database migration."""
    settings = Settings()
    _prepare(settings)
    typer.echo(f"database at head: {settings.resolved_database_url.split('@')[-1]}")


@cli.command()
def serve(
    host: str = typer.Option("127.0.0.1", help="Interface to listen on."),
    port: int = typer.Option(8000, help="Port to listen on."),
    reload: bool = typer.Option(False, help="Restart on code changes (development)."),
) -> None:
    """Apply migrations, then serve the API with uvicorn."""
    settings = Settings()
    try:
        _prepare(settings)
    except RuntimeError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    typer.echo(f"Atrium on http://{shown}:{port} - API docs at http://{shown}:{port}/docs")
    uvicorn.run(
        "atrium.app:create_app",
        factory=True,
        host=host,
        port=port,
        reload=reload,
        access_log=False,
        log_level=settings.log_level.lower(),
        log_config=logging_config(settings.log_level),
        proxy_headers=False,
    )


@users_cli.command("create")
def create_user(
    email: str = typer.Option(..., help="Email address."),
    username: str = typer.Option(..., help="User name."),
    admin: bool = typer.Option(False, "--admin", help="Give the user the admin role."),
    role: str = typer.Option("user", help="Role when not --admin."),
    password_stdin: bool = typer.Option(False, "--password-stdin", help="Read password on stdin."),
) -> None:
    """Create a user; the password is prompted for, or read from standard input."""
    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = getpass.getpass("Password: ")
        if getpass.getpass("Repeat: ") != password:
            typer.echo("error: the passwords differ", err=True)
            raise typer.Exit(2)
    settings = Settings()
    _prepare(settings)
    from atrium.errors import AtriumError

    try:
        user_id = asyncio.run(
            _create(settings, email, username, password, "admin" if admin else role)
        )
    except AtriumError as exc:
        typer.echo(f"error: {exc.detail}", err=True)
        raise typer.Exit(1) from exc
    typer.echo(f"created user {user_id} ({email})")


async def _create(settings: Settings, email: str, username: str, password: str, role: str) -> int:
    from atrium.db import Database
    from atrium.users import service as users_service

    db = Database(settings.resolved_database_url)
    try:
        async with db.sessions() as session:
            users_service.check_password_policy(password, email=email, username=username)
            user = await users_service.create_user(
                session, email=email, username=username, password=password, role=role
            )
            await session.commit()
            return user.id
    finally:
        await db.dispose()


@cli.command("audit")
def audit_repository(
    target: str = typer.Argument(..., help="A directory, a zip/tar.gz archive or a git URL."),
    fmt: str = typer.Option("json", "--format", "-f", help="json, html or pdf."),
    output: Path | None = typer.Option(None, "--output", "-o", help="File to write (- = stdout)."),
    branch: str | None = typer.Option(None, help="Branch to clone (git URLs)."),
    workers: int = typer.Option(
        os.cpu_count() or 1, help="Worker processes for large trees (1 = none)."
    ),
) -> None:
    """Audit a repository without a server and write its report."""
    from atrium.audits import cli as audits_cli

    audits_cli.run(target, fmt, output, branch, workers)


def main() -> None:
    cli()
