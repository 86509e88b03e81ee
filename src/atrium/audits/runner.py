"""The audit job's runner: fetch the source into the audit's working directory, run the
engine off the event loop, store the three reports, record the outcome on the audit row, and
tell the owner (`app.state.audit_finished_hooks`: webhooks, mail)."""

import asyncio
import logging
import os
import threading
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from sqlalchemy import update

from atrium.audits import reports as audit_reports
from atrium.audits import sources
from atrium.audits.engine import audit as run_engine
from atrium.audits.schemas import summary_of
from atrium.audits.service import work_dir
from atrium.audits.tables import Audit
from atrium.db import utcnow
from atrium.jobs.runners import runner

log = logging.getLogger("atrium.audits")
KIND = "audit"
PROGRESS_STEP = 0.01  # write progress when it moved by at least one percent


class AuditCancelled(Exception):
    pass


async def _update(ctx: Any, audit_id: int, **values: Any) -> Audit | None:
    async with ctx.sessions() as session:
        audit = await session.get(Audit, audit_id)
        if audit is None:
            return None
        for name, value in values.items():
            setattr(audit, name, value)
        audit.updated_at = utcnow()
        await session.commit()
    return audit


async def _progress(ctx: Any, audit_id: int, fraction: float, stage: str) -> None:
    """The job's progress (0-1) and the audit row's, which the audit WebSocket reads; reports
    from the engine's thread may arrive out of order, so the row's progress only moves up."""
    await ctx.progress(fraction, stage=stage)
    fraction = round(fraction, 4)
    async with ctx.sessions() as session:
        await session.execute(
            update(Audit)
            .where(Audit.id == audit_id, Audit.progress < fraction)
            .values(progress=fraction, stage=stage, updated_at=utcnow())
        )
        await session.commit()


async def _acquire(ctx: Any, audit: Audit, directory: Path) -> Path:
    settings = ctx.settings
    if audit.source_type == "path":
        return sources.resolve_local(audit.repository, settings.audit_roots)
    target = directory / "src"
    if audit.source_type == "git":
        git_target = sources.parse_git_url(audit.repository)
        # checked again at run time: the name may resolve elsewhere since the request
        allow = settings.allow_private_repositories or audit.allow_private
        addresses = await sources.check_reachable_address(git_target, allow_private=allow)
        await sources.clone(
            git_target,
            audit.branch,
            target,
            addresses=() if allow else addresses,
            timeout=settings.audit_clone_timeout_seconds,
            max_bytes=settings.audit_max_repository_bytes,
        )
        return target
    archive = directory / "upload.archive"
    if not audit.archive_key:
        raise sources.SourceError("The uploaded archive no longer exists.")
    try:
        out = await asyncio.to_thread(open, archive, "wb")
        try:
            async for chunk in ctx.app_state.storage.read(audit.archive_key):
                await asyncio.to_thread(out.write, chunk)
        finally:
            out.close()
    except Exception as exc:  # the upload was deleted since (local or S3 storage)
        raise sources.SourceError("The uploaded archive no longer exists.") from exc
    limits = sources.ArchiveLimits(
        max_bytes=settings.audit_max_repository_bytes,
        max_files=settings.audit_max_archive_files,
        max_ratio=settings.audit_max_archive_ratio,
    )
    await asyncio.to_thread(sources.extract, archive, target, limits)
    archive.unlink(missing_ok=True)
    return target


async def _store_reports(ctx: Any, audit: Audit, result: dict[str, Any]) -> dict[str, Any]:
    storage = ctx.app_state.storage
    stored: dict[str, Any] = {}
    try:
        for fmt in audit_reports.FORMATS:
            data = await asyncio.to_thread(audit_reports.render, result, fmt)
            key = f"audits/{audit.user_id}/{audit.id}/{uuid.uuid4().hex}.{fmt}"
            pending = storage.begin(key)
            try:
                await pending.write(data)
                await pending.commit()
            except BaseException:
                await asyncio.shield(pending.abort())
                raise
            stored[fmt] = {"key": key, "bytes": len(data)}
    except BaseException:
        for entry in stored.values():
            await storage.delete(entry["key"])
        raise
    return stored


def _source_label(audit: Audit) -> dict[str, Any]:
    if audit.source_type == "archive":
        return {"type": "archive", "filename": audit.repository, "file_id": audit.file_id}
    return {"type": audit.source_type, "repository": audit.repository, "branch": audit.branch}


@runner(KIND, concurrency=2, max_attempts=1, resource="audits")
async def run_audit(ctx: Any) -> Any:
    """Runs one audit; returns the job's result (a summary)."""
    audit_id = int(ctx.payload["audit_id"])
    audit = await _update(
        ctx, audit_id, status="processing", started_at=utcnow(), stage="starting", progress=0.0
    )
    if audit is None:
        return {"skipped": "the audit was deleted"}
    directory = work_dir(ctx.settings, audit_id)
    loop = asyncio.get_running_loop()
    last = {"progress": 0.0}
    stop = threading.Event()
    written = {"fraction": -1.0}
    in_order = asyncio.Lock()

    async def advance(fraction: float, stage: str) -> None:
        # the engine thread's reports run as separate tasks and may arrive out of order:
        # the job's progress events only ever move up
        async with in_order:
            if fraction <= written["fraction"]:
                return
            written["fraction"] = fraction
            await _progress(ctx, audit_id, fraction, stage)

    async def report(fraction: float, stage: str) -> None:
        await advance(fraction, stage)
        if await ctx.should_stop():
            stop.set()

    def on_progress(fraction: float, stage: str) -> None:  # called from the engine's thread
        if fraction - last["progress"] >= PROGRESS_STEP or fraction >= 1.0:
            last["progress"] = fraction
            asyncio.run_coroutine_threadsafe(report(0.1 + 0.8 * fraction, stage), loop)
        if stop.is_set():
            raise AuditCancelled()

    try:
        await asyncio.to_thread(directory.mkdir, parents=True, exist_ok=True)
        await advance(0.02, "fetching the source")
        root = await _acquire(ctx, audit, directory)
        await advance(0.1, "scanning files")
        workers = max(1, min(4, (os.cpu_count() or 1)))
        result = await asyncio.to_thread(
            run_engine, root, source=_source_label(audit), progress=on_progress, workers=workers
        )
        await advance(0.92, "writing reports")
        stored = await _store_reports(ctx, audit, result)
        summary = summary_of(result)
        audit = await _update(
            ctx,
            audit_id,
            status="completed",
            progress=1.0,
            stage="completed",
            files_scanned=summary["files"],
            summary=summary,
            reports=stored,
            report_bytes=sum(entry["bytes"] for entry in stored.values()),
            completed_at=utcnow(),
        )
        if audit is None:  # deleted while running: its reports go too
            for entry in stored.values():
                await ctx.app_state.storage.delete(entry["key"])
            return {"skipped": "the audit was deleted"}
        await _notify(ctx, audit, "audit.completed")
        return {"audit_id": audit_id, **summary}
    except AuditCancelled:
        await _update(ctx, audit_id, status="failed", error="cancelled", stage="cancelled",
                      completed_at=utcnow())  # fmt: skip
        return ctx.stopped()
    except sources.SourceError as exc:
        audit = await _update(ctx, audit_id, status="failed", error=str(exc), stage="failed",
                              completed_at=utcnow())  # fmt: skip
        if audit is not None:
            await _notify(ctx, audit, "audit.failed")
        return {"audit_id": audit_id, "error": str(exc)}
    except Exception as exc:
        log.exception("audit %s failed", audit_id)
        reason = f"The audit failed unexpectedly ({type(exc).__name__}: {exc})"[:500]
        audit = await _update(ctx, audit_id, status="failed", error=reason, stage="failed",
                              completed_at=utcnow())  # fmt: skip
        if audit is not None:
            await _notify(ctx, audit, "audit.failed")
        return {"audit_id": audit_id, "error": reason}
    finally:
        await asyncio.to_thread(sources.remove_tree, directory)


async def _notify(ctx: Any, audit: Audit, event: str) -> None:
    """Webhooks for the owner, and a mail where the app has a mailer (`audit_mail_hook`)."""
    payload = {
        "event": event,
        "audit": {
            "id": str(audit.id),
            "repository": audit.repository,
            "status": audit.status,
            "filesScanned": audit.files_scanned,
            "summary": audit.summary,
            "error": audit.error,
        },
    }
    notifiers: list[Callable[[int, str, dict[str, Any]], Awaitable[None]]] = list(
        getattr(ctx.app_state, "audit_finished_hooks", None) or []
    )
    for notify in notifiers:
        try:
            await notify(audit.user_id, event, payload)
        except Exception:
            log.exception("notifying the owner of audit %s failed", audit.id)
