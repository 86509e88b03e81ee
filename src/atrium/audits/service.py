"""Repository audits: creating one (its source checked up front), listing, reading, deleting,
serving its reports, and the figures that usage pages read."""

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import ColumnElement, func, select, true
from sqlalchemy.ext.asyncio import AsyncSession

from atrium.audits import sources
from atrium.audits.engine.history import is_repository
from atrium.audits.errors import (
    AuditNotFound,
    InvalidReportFormat,
    InvalidSource,
    ReportMissing,
    ReportNotReady,
)
from atrium.audits.reports import FORMATS, MEDIA_TYPES
from atrium.audits.schemas import STATUSES, AuditCreate
from atrium.audits.tables import Audit
from atrium.auth.principal import Principal
from atrium.config import Settings
from atrium.db import after_commit
from atrium.errors import AtriumError
from atrium.files import service as files_service
from atrium.files.storage import Storage
from atrium.jobs import service as jobs_service
from atrium.tiers import service as tiers_service

KIND = "audit"  # the job kind whose runner is audits.runner.run_audit
MAX_PAGE = 1000
ARCHIVE_TYPES = frozenset(
    {"application/zip", "application/x-zip-compressed", "application/gzip", "application/x-gzip",
     "application/x-tar", "application/x-gtar", "application/x-compressed-tar"}
)  # fmt: skip
ARCHIVE_SUFFIXES = (".zip", ".tar.gz", ".tgz", ".tar")
# (session, user_id) -> (monthly files-scanned limit or None, when it resets)


def _visible(principal: Principal, action: str) -> ColumnElement[bool]:
    if principal.reaches("audits", action):
        return true()
    return Audit.user_id == principal.user_id


async def get_owned(
    session: AsyncSession, principal: Principal, audit_id: int, action: str = "read"
) -> Audit:
    audit = await session.scalar(
        select(Audit).where(Audit.id == audit_id, _visible(principal, action))
    )
    if audit is None:
        raise AuditNotFound()
    return audit


def work_dir(settings: Settings, audit_id: int) -> Path:
    return settings.data_dir / "audits" / str(audit_id)


async def _source_of(
    session: AsyncSession, principal: Principal, settings: Settings, data: AuditCreate
) -> dict[str, Any]:
    if data.file_id not in (None, ""):
        text = str(data.file_id).strip()
        if not text.isdigit() or not 1 <= int(text) <= 2**31 - 1:
            raise files_service.FileNotFound()
        file = await files_service.get_owned(session, principal, int(text))
        if file.mime_type not in ARCHIVE_TYPES and not file.filename.lower().endswith(
            ARCHIVE_SUFFIXES
        ):
            raise InvalidSource("The uploaded file is not a zip or tar.gz archive")
        return {
            "source_type": "archive",
            "repository": file.filename,
            "file_id": file.id,
            "archive_key": file.storage_key,
        }
    raw = (data.path or data.repository or "").strip()
    try:
        branch = sources.check_branch(data.branch)
        if data.path is not None or raw.startswith(("/", "~")):
            local = sources.resolve_local(raw, settings.audit_roots)
            if not await asyncio.to_thread(is_repository, local):
                raise sources.SourceError(f"{raw} is not a git repository.")
            return {"source_type": "path", "repository": str(local), "branch": None}
        target = sources.parse_git_url(raw)
        allow = settings.allow_private_repositories or principal.is_admin
        await sources.check_reachable_address(target, allow_private=allow)
    except sources.SourceError as exc:
        raise InvalidSource(str(exc)) from exc
    return {
        "source_type": "git",
        "repository": target.url,
        "branch": branch,
        "allow_private": principal.is_admin,
    }


async def create(
    session: AsyncSession,
    principal: Principal,
    settings: Settings,
    data: AuditCreate,
) -> Audit:
    """Check the source and the plan's quota, store the audit and queue its job (which the
    job engine dispatches after the commit)."""
    source = await _source_of(session, principal, settings, data)
    # the size of an audit is known only once it ran: refused when the month's use is at the limit
    await tiers_service.check_quota(session, principal.user_id, "files_scanned")
    audit = Audit(user_id=principal.user_id, status="pending", progress=0.0, **source)
    session.add(audit)
    await session.flush()
    job = await jobs_service.enqueue(
        session, kind=KIND, owner_id=principal.user_id, payload={"audit_id": audit.id}
    )
    audit.job_id = job.id
    await session.flush()
    return audit


async def list_own(
    session: AsyncSession,
    principal: Principal,
    *,
    skip: int,
    limit: int,
    status: str | None,
) -> tuple[list[Audit], int]:
    """The caller's audits, newest first, with the total that match."""
    condition = Audit.user_id == principal.user_id
    if status is not None:
        condition = condition & (Audit.status == status)
    total = await session.scalar(select(func.count()).select_from(Audit).where(condition))
    rows = await session.scalars(
        select(Audit)
        .where(condition)
        .order_by(Audit.id.desc())
        .offset(skip)
        .limit(min(limit, MAX_PAGE))
    )
    return list(rows), int(total or 0)


async def job_id_of(session: AsyncSession, principal: Principal, audit_id: int) -> int:
    """The job that runs the caller's audit (for its progress stream)."""
    audit = await get_owned(session, principal, audit_id)
    if audit.job_id is None:
        raise AuditNotFound()
    return audit.job_id


def check_status_filter(status: str | None) -> str | None:
    if status is None or status == "":
        return None
    if status not in STATUSES:
        raise InvalidSource(f"Unknown status {status!r}; use one of {', '.join(STATUSES)}")
    return status


async def delete(
    session: AsyncSession,
    principal: Principal,
    storage: Storage,
    settings: Settings,
    audit_id: int,
) -> None:
    """The row goes now; its reports and any working copy after the commit; a running audit's
    job is asked to stop."""
    audit = await get_owned(session, principal, audit_id, "delete")
    keys = [entry["key"] for entry in (audit.reports or {}).values()]
    if audit.job_id is not None and audit.status in ("pending", "processing"):
        with contextlib.suppress(AtriumError):  # already finished: nothing to stop
            await jobs_service.request_cancel(session, audit.job_id)
    await session.delete(audit)
    await session.flush()
    files_service.delete_bytes_after_commit(session, storage, keys)
    directory = work_dir(settings, audit_id)

    async def remove_working_copy() -> None:
        sources.remove_tree(directory)

    after_commit(session, remove_working_copy)


async def delete_users_reports(
    session: AsyncSession, storage: Storage, settings: Settings, user_id: int
) -> None:
    """A user deletion hook: rows go by cascade; report bytes and working copies after it."""
    rows = await session.execute(select(Audit.id, Audit.reports).where(Audit.user_id == user_id))
    keys: list[str] = []
    directories: list[Path] = []
    for audit_id, reports in rows:
        keys += [entry["key"] for entry in (reports or {}).values()]
        directories.append(work_dir(settings, audit_id))
    files_service.delete_bytes_after_commit(session, storage, keys)

    async def remove_working_copies() -> None:
        for directory in directories:
            sources.remove_tree(directory)

    after_commit(session, remove_working_copies)


async def report(
    session: AsyncSession, principal: Principal, storage: Storage, audit_id: int, fmt: str
) -> tuple[AsyncIterator[bytes], int, str, str]:
    """(bytes, size, filename, media type) of a completed audit's report."""
    if fmt not in FORMATS:
        raise InvalidReportFormat(f"Unknown report format {fmt!r}; choose json, html or pdf")
    audit = await get_owned(session, principal, audit_id)
    if audit.status != "completed":
        raise ReportNotReady(f"The audit is {audit.status}; reports exist once it has completed")
    entry = (audit.reports or {}).get(fmt)
    if entry is None:
        raise ReportMissing()
    return storage.read(entry["key"]), entry["bytes"], f"audit-{audit.id}.{fmt}", MEDIA_TYPES[fmt]


# --- figures for usage pages -----------------------------------------------------------------


def month_start(moment: datetime | None = None) -> datetime:
    now = moment or datetime.now(UTC)
    return now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


async def files_scanned_since(session: AsyncSession, user_id: int, since: datetime) -> int:
    total = await session.scalar(
        select(func.coalesce(func.sum(Audit.files_scanned), 0)).where(
            Audit.user_id == user_id, Audit.status == "completed", Audit.completed_at >= since
        )
    )
    return int(total or 0)


tiers_service.register_usage_counter("files_scanned", files_scanned_since)


async def files_scanned_this_month(session: AsyncSession, user_id: int) -> int:
    """Files scanned by the user's audits completed since the first of this month (UTC)."""
    return await files_scanned_since(session, user_id, month_start())


async def report_bytes(session: AsyncSession, user_id: int) -> int:
    """Bytes of stored reports the user owns."""
    total = await session.scalar(
        select(func.coalesce(func.sum(Audit.report_bytes), 0)).where(Audit.user_id == user_id)
    )
    return int(total or 0)


async def files_scanned_by_day(
    session: AsyncSession, user_id: int, first: date, last: date
) -> dict[date, int]:
    """Files scanned per UTC day between first and last (inclusive), by completion day."""
    since = datetime(first.year, first.month, first.day, tzinfo=UTC)
    until = datetime(last.year, last.month, last.day, tzinfo=UTC) + timedelta(days=1)
    rows = await session.execute(
        select(Audit.completed_at, Audit.files_scanned).where(
            Audit.user_id == user_id,
            Audit.status == "completed",
            Audit.completed_at >= since,
            Audit.completed_at < until,
        )
    )
    by_day: dict[date, int] = {}
    for completed_at, files in rows:
        day = completed_at.astimezone(UTC).date()
        by_day[day] = by_day.get(day, 0) + int(files or 0)
    return by_day


async def files_scanned_by_month(
    session: AsyncSession, user_id: int, first: date, last: date
) -> dict[str, int]:
    """Files scanned per month ("YYYY-MM") between first and last."""
    by_month: dict[str, int] = {}
    for day, files in (await files_scanned_by_day(session, user_id, first, last)).items():
        key = f"{day.year:04d}-{day.month:02d}"
        by_month[key] = by_month.get(key, 0) + files
    return by_month
