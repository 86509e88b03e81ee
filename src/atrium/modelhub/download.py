"""Pulling a model from the hub: a `modelhub.download` job. Files stream into
`.incoming/<id>/NAME.part`, resuming with an HTTP Range from what is already there (after a
retry, a pause or a restart), are verified against the hub's checksum, and the folder is renamed
into place once every file is whole, so a listed model is always complete."""

import asyncio
import hashlib
import json
import shutil
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any

import httpx

from atrium.config import Settings
from atrium.jobs.runners import JobContext, RetryableJobError, runner
from atrium.modelhub import hub, local
from atrium.modelhub.errors import HubUnavailable, InsufficientStorage

KIND = "modelhub.download"
REPORT_EVERY = 0.02  # progress rows at most every 2% of the bytes
SPACE_MARGIN = 64 * 1024 * 1024


class ChecksumMismatch(Exception):
    pass


def safe_name(name: str) -> PurePosixPath:
    path = PurePosixPath(name)
    if path.is_absolute() or not path.parts or any(part in ("", ".", "..") for part in path.parts):
        raise ValueError(f"The hub listed an unsafe file name: {name!r}")
    return path


def check_space(settings: Settings, needed: int) -> None:
    free = local.free_bytes(settings)
    if needed + SPACE_MARGIN > free:
        raise InsufficientStorage(
            f"The model needs {needed} bytes and {free} are free in the models directory"
        )


def _digest(path: Path, file: hub.HubFile) -> str | None:
    """The file's checksum in the form the hub gives it: sha256 (LFS) or git's blob sha1."""
    if file.sha256:
        digest = hashlib.sha256()
    elif file.blob_id:
        digest = hashlib.sha1(f"blob {path.stat().st_size}\0".encode(), usedforsecurity=False)
    else:
        return None
    with path.open("rb") as handle:
        while block := handle.read(1024 * 1024):
            digest.update(block)
    return digest.hexdigest()


def verify(path: Path, file: hub.HubFile) -> None:
    expected = file.sha256 or file.blob_id
    actual = _digest(path, file)
    if expected and actual != expected:
        raise ChecksumMismatch(f"{file.name}: checksum {actual} is not the hub's {expected}")


Reporter = Callable[[int, int, str], Awaitable[bool]]  # (done, total, file) -> stop now?


class Progress:
    """Counts bytes and calls the reporter at most every 2% of them."""

    def __init__(self, report: Reporter, total: int, done: int) -> None:
        self.report, self.total, self.done, self.reported = report, max(total, 1), done, -1.0

    async def add(self, count: int, name: str) -> bool:
        """Count bytes; at each report, whether a pause or cancel was requested."""
        self.done += count
        fraction = self.done / self.total
        if fraction - self.reported < REPORT_EVERY and self.done < self.total:
            return False
        self.reported = fraction
        return await self.report(self.done, self.total, name)


async def _fetch(
    client: httpx.AsyncClient, url: str, part: Path, file: hub.HubFile, progress: Progress
) -> bool:
    """Stream the rest of `file` into `part`; False when a stop was requested midway."""
    start = await asyncio.to_thread(_size, part)
    if file.size is not None and start >= file.size:
        return True
    headers = {"Range": f"bytes={start}-"} if start else {}
    async with client.stream("GET", url, headers=headers) as response:
        if response.status_code == 416:
            return True
        if response.status_code not in (200, 206):
            raise RetryableJobError(f"{file.name}: the hub answered {response.status_code}")
        if start and response.status_code == 200:  # no range support: start over
            progress.done -= start
            start = 0
        with part.open("r+b" if start else "wb") as handle:
            handle.seek(start)
            handle.truncate()
            async for block in response.aiter_raw():  # as received: a drop loses nothing
                handle.write(block)
                handle.flush()
                if await progress.add(len(block), file.name):
                    return False
    return True


def _size(path: Path) -> int:
    return path.stat().st_size if path.exists() else 0


def _existing(folder: Path, files: list[hub.HubFile]) -> int:
    total = 0
    for file in files:
        for candidate in (folder / file.name, folder / f"{file.name}.part"):
            if candidate.is_file():
                total += candidate.stat().st_size
    return total


def _install(settings: Settings, model_id: str, folder: Path, meta: dict[str, Any]) -> Path:
    (folder / local.MARKER).write_text(json.dumps(meta, default=str))
    target = local.path_of(settings, model_id)
    if target.exists():
        shutil.rmtree(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    folder.rename(target)
    return target


async def pull(
    settings: Settings, model_id: str, revision: str | None, report: Reporter
) -> dict[str, Any] | None:
    """Download `model_id` into the models directory; None when `report` asked to stop."""
    model_id = hub.check_id(model_id)
    found = await hub.model(settings, model_id, revision)
    revision = found.sha or revision or "main"
    files = sorted(found.files, key=lambda file: file.name)
    for file in files:
        safe_name(file.name)
    folder = local.incoming_dir(settings, model_id)
    await asyncio.to_thread(folder.mkdir, parents=True, exist_ok=True)
    total = sum(file.size or 0 for file in files)
    have = await asyncio.to_thread(_existing, folder, files)
    check_space(settings, total - have)
    progress = Progress(report, total, have)
    # identity: the bytes on disk are the file's, so a Range offset means the same in both
    identity = {"Accept-Encoding": "identity"}
    async with httpx.AsyncClient(follow_redirects=True, timeout=60.0, headers=identity) as client:
        for file in files:
            url = hub.file_url(settings, model_id, file.name, revision)
            if not await _fetch_verified(client, url, folder, file, progress):
                return None
    meta = {**found.info, "revision": revision, "downloaded_at": datetime.now(UTC).isoformat()}
    target = await asyncio.to_thread(_install, settings, model_id, folder, meta)
    return {"model_id": model_id, "revision": revision, "path": str(target), "size_bytes": total,
            "files": [file.name for file in files]}  # fmt: skip


async def _fetch_verified(
    client: httpx.AsyncClient, url: str, folder: Path, file: hub.HubFile, progress: Progress
) -> bool:
    final = folder / file.name
    if await asyncio.to_thread(final.is_file):
        return True
    await asyncio.to_thread(final.parent.mkdir, parents=True, exist_ok=True)
    part = final.with_name(final.name + ".part")
    try:
        if not await _fetch(client, url, part, file, progress):
            return False
    except httpx.HTTPError as exc:
        raise RetryableJobError(f"{file.name}: {exc}") from exc
    try:
        await asyncio.to_thread(verify, part, file)
    except ChecksumMismatch as exc:
        part.unlink()
        raise RetryableJobError(str(exc)) from exc
    part.rename(final)
    return True


@runner(KIND, concurrency=2, max_attempts=5, resource="models")
async def run_download(ctx: JobContext) -> Any:
    async def report(done: int, total: int, name: str) -> bool:
        await ctx.progress(done / total, stage=f"{name}: {done} of {total} bytes")
        await ctx.emit("modelhub.download.bytes", {"done": done, "total": total})
        return await ctx.should_stop()

    try:
        result = await pull(ctx.settings, ctx.payload["model_id"], ctx.payload.get("revision"),
                            report)  # fmt: skip
    except HubUnavailable as exc:
        raise RetryableJobError(exc.detail) from exc
    if result is None:
        return ctx.stopped()
    await ctx.progress(1.0, stage="downloaded")
    return result
