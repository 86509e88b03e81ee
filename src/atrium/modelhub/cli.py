"""`atrium models pull <repo>`: the registry's download from a terminal, with a progress bar."""

import asyncio

import typer
from rich.progress import BarColumn, DownloadColumn, Progress, TransferSpeedColumn

from atrium.config import Settings
from atrium.errors import AtriumError
from atrium.jobs.runners import RetryableJobError
from atrium.modelhub import download

models_cli = typer.Typer(no_args_is_help=True, help="Pull models from the Hugging Face hub.")
ATTEMPTS = 3


async def _pull(settings: Settings, repo: str, revision: str | None) -> dict:
    with Progress(
        "[progress.description]{task.description}", BarColumn(), DownloadColumn(),
        TransferSpeedColumn(),
    ) as bar:  # fmt: skip
        task = bar.add_task(repo, total=None)

        async def report(done: int, total: int, name: str) -> bool:
            bar.update(task, completed=done, total=total, description=f"{repo}: {name}")
            return False

        for attempt in range(1, ATTEMPTS + 1):
            try:
                result = await download.pull(settings, repo, revision, report)
                assert result is not None  # the reporter never asks to stop
                return result
            except RetryableJobError as exc:
                if attempt == ATTEMPTS:
                    raise
                bar.console.print(f"retrying after: {exc} (the partial file is kept)")
    raise AssertionError("unreachable")


@models_cli.command("pull")
def pull(
    repo: str = typer.Argument(help="Hub id, e.g. Qwen/Qwen2.5-0.5B"),
    revision: str | None = typer.Option(None, help="Branch, tag or commit"),
) -> None:
    """Download a model into the models directory (resumes a partial download)."""
    try:
        result = asyncio.run(_pull(Settings(), repo, revision))
    except (AtriumError, RetryableJobError) as exc:
        typer.echo(f"error: {getattr(exc, 'detail', exc)}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"{result['model_id']}@{result['revision']}: {result['size_bytes']} bytes in "
               f"{result['path']}")  # fmt: skip
