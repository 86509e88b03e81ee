"""`atrium audit PATH_OR_URL`: the engine without a server, with a progress bar."""

import asyncio
import tempfile
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from atrium.audits import reports, sources
from atrium.audits.engine import audit
from atrium.config import Settings

ARCHIVE_SUFFIXES = (".zip", ".tar.gz", ".tgz", ".tar")


def _fetch(target: str, branch: str | None, scratch: Path, settings: Settings) -> tuple[Path, dict]:
    local = Path(target).expanduser()
    if local.is_dir():
        return local.resolve(), {"type": "path", "path": str(local.resolve())}
    if local.is_file() and local.name.lower().endswith(ARCHIVE_SUFFIXES):
        limits = sources.ArchiveLimits(
            max_bytes=settings.audit_max_repository_bytes,
            max_files=settings.audit_max_archive_files,
            max_ratio=settings.audit_max_archive_ratio,
        )
        sources.extract(local, scratch / "src", limits)
        return scratch / "src", {"type": "archive", "filename": local.name}
    git_target = sources.parse_git_url(target)
    sources.check_branch(branch)
    # the command line runs with its user's own rights: private hosts are allowed
    asyncio.run(
        sources.clone(
            git_target,
            branch,
            scratch / "src",
            addresses=(),
            timeout=settings.audit_clone_timeout_seconds,
            max_bytes=settings.audit_max_repository_bytes,
        )
    )
    return scratch / "src", {"type": "git", "repository": target, "branch": branch}


def run(
    target: str,
    fmt: str,
    output: Path | None,
    branch: str | None,
    workers: int,
) -> None:
    console = Console(stderr=True)
    if fmt not in reports.FORMATS:
        console.print(f"[red]error:[/] unknown format {fmt!r}; choose json, html or pdf")
        raise typer.Exit(2)
    settings = Settings()
    with tempfile.TemporaryDirectory(prefix="atrium-audit-") as scratch:
        try:
            root, source = _fetch(target, branch, Path(scratch), settings)
        except sources.SourceError as exc:
            console.print(f"[red]error:[/] {exc}")
            raise typer.Exit(1) from exc
        columns = (
            TextColumn("{task.description:<22}"),
            BarColumn(),
            TextColumn("{task.percentage:>3.0f}%"),
            TimeElapsedColumn(),
        )
        with Progress(*columns, console=console, transient=False) as bar:
            task = bar.add_task("auditing", total=1.0)

            def progress(fraction: float, stage: str) -> None:
                bar.update(task, completed=fraction, description=stage)

            result = audit(root, source=source, progress=progress, workers=workers)
    data = reports.render(result, fmt)
    if output is None or str(output) == "-":
        typer.echo(data.decode() if fmt != "pdf" else data, nl=False)
        return
    output.write_bytes(data)
    risk, summary = result["risk"], result["summary"]
    console.print(
        f"{summary['files']} files, {len(result['findings'])} findings, risk "
        f"{risk['score']}/100 ({risk['level']}) -> {output}"
    )
