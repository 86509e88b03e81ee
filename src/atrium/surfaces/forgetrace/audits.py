"""ForgeTrace's audits (seed 001; CONTRACTS): `/api/v1/audits…` in camelCase with the
`{audits, total}` envelope, reports as file bytes, and `WebSocket /ws/audits/{id}` with
integer-percent progress."""

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, FastAPI, Query, Request, Response, WebSocket
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field
from pydantic.alias_generators import to_camel
from sqlalchemy.ext.asyncio import AsyncSession

from atrium.audits import runner as _runner  # noqa: F401  (registers the audit job)
from atrium.audits import service as audits_service
from atrium.audits.auth import AuditsDelete, AuditsRead, AuditsWrite
from atrium.audits.schemas import AuditCreate
from atrium.db import SessionDep
from atrium.jobs.schemas import JobEventRead
from atrium.jobs.streaming import serve_job_socket
from atrium.params import IdPath
from atrium.users import service as users_service

router = APIRouter(prefix="/api/v1/audits", tags=["forgetrace", "audits"])
ws_router = APIRouter(tags=["forgetrace", "audits"])
routers = [router, ws_router]

NOT_FOUND = {404: {"description": "No such audit, or not the caller's"}}
FINISHED = ("completed", "failed")
WS_POLL_SECONDS = 2.0  # listeners in other processes than the runner's notice by polling


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


class AuditOut(BaseModel):
    id: str
    repository: str
    branch: str | None
    source_type: str = Field(serialization_alias="sourceType")
    status: str
    progress: int = Field(description="Percent, 0-100")
    stage: str | None
    files_scanned: int = Field(serialization_alias="filesScanned")
    summary: dict[str, Any] | None
    error: str | None
    created_at: str = Field(serialization_alias="createdAt")
    started_at: str | None = Field(serialization_alias="startedAt")
    completed_at: str | None = Field(serialization_alias="completedAt")


class AuditList(BaseModel):
    audits: list[AuditOut]
    total: int


class AuditDeleted(BaseModel):
    message: str = "Audit deleted"
    id: str
    deleted: bool = True


def shape(audit: audits_service.Audit) -> AuditOut:
    summary = audit.summary
    if summary is not None:
        summary = {to_camel(key): value for key, value in summary.items()}
    return AuditOut(
        id=str(audit.id),
        repository=audit.repository,
        branch=audit.branch,
        source_type=audit.source_type,
        status=audit.status,
        progress=round(100 * (audit.progress or 0.0)),
        stage=audit.stage,
        files_scanned=audit.files_scanned,
        summary=summary,
        error=audit.error,
        created_at=_iso(audit.created_at) or "",
        started_at=_iso(audit.started_at),
        completed_at=_iso(audit.completed_at),
    )


@router.post(
    "",
    response_model=AuditOut,
    status_code=202,
    description="Starts an audit of a git URL (http(s) or ssh), a local path under an "
    "administrator's audit roots, or an uploaded zip/tar.gz (`file_id`). Answers 202 with the "
    "pending audit; follow it at `Location` or over `/ws/audits/{id}`.",
)
async def create_audit(
    body: AuditCreate,
    principal: AuditsWrite,
    session: SessionDep,
    request: Request,
    response: Response,
) -> AuditOut:
    state = request.app.state
    audit = await audits_service.create(session, principal, state.settings, body)
    response.headers["Location"] = f"/api/v1/audits/{audit.id}"
    return shape(audit)


@router.get(
    "",
    response_model=AuditList,
    description="The caller's audits, newest first, `skip`/`limit` paginated, optionally of "
    "one status (pending, processing, completed, failed).",
)
async def list_audits(
    principal: AuditsRead,
    session: SessionDep,
    skip: Annotated[int, Query(ge=0, le=2**31 - 1)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
    status: Annotated[str | None, Query(max_length=20)] = None,
) -> AuditList:
    rows, total = await audits_service.list_own(
        session,
        principal,
        skip=skip,
        limit=limit,
        status=audits_service.check_status_filter(status),
    )
    return AuditList(audits=[shape(audit) for audit in rows], total=total)


@router.get("/{audit_id}", response_model=AuditOut, responses=NOT_FOUND)
async def read_audit(audit_id: IdPath, principal: AuditsRead, session: SessionDep) -> AuditOut:
    return shape(await audits_service.get_owned(session, principal, audit_id))


@router.delete(
    "/{audit_id}",
    response_model=AuditDeleted,
    responses=NOT_FOUND,
    description="Deletes the audit with its reports and working copy; a running audit stops.",
)
async def delete_audit(
    audit_id: IdPath, principal: AuditsDelete, session: SessionDep, request: Request
) -> AuditDeleted:
    state = request.app.state
    await audits_service.delete(session, principal, state.storage, state.settings, audit_id)
    return AuditDeleted(id=str(audit_id))


@router.get(
    "/{audit_id}/report",
    response_class=StreamingResponse,
    responses={
        200: {
            "content": {
                "application/json": {},
                "text/html": {},
                "application/pdf": {},
            },
            "description": "The report file, `audit-{id}.{format}`",
        },
        400: {"description": "The audit has not completed, or the format is unknown"},
        **NOT_FOUND,
    },
)
async def download_report(
    audit_id: IdPath,
    principal: AuditsRead,
    session: SessionDep,
    request: Request,
    format: Annotated[str, Query(max_length=10)] = "json",
) -> StreamingResponse:
    chunks, size, filename, media_type = await audits_service.report(
        session, principal, request.app.state.storage, audit_id, format.lower()
    )
    return StreamingResponse(
        chunks,
        media_type=media_type,
        headers={
            "Content-Length": str(size),
            "Content-Disposition": f'attachment; filename="{filename}"',
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "sandbox",
        },
    )


# --- progress over a WebSocket -----------------------------------------------------------------

# job statuses as an audit's (queued is pending; paused is still processing; cancelled failed)
AUDIT_STATUS = {
    "queued": "pending",
    "running": "processing",
    "paused": "processing",
    "completed": "completed",
    "failed": "failed",
    "cancelled": "failed",
}


def progress_message(event: JobEventRead) -> dict[str, Any] | None:
    """`{progress: int (percent), status, stage}` from the audit job's events."""
    data = event.data
    if "progress" not in data and "status" not in data:
        return None
    message: dict[str, Any] = {"type": event.type}
    if "progress" in data:
        message["progress"] = round(100 * float(data["progress"] or 0.0))
    if "status" in data:
        message["status"] = AUDIT_STATUS.get(data["status"], data["status"])
    if data.get("stage") is not None:
        message["stage"] = data["stage"]
    if data.get("status") == "completed":
        message["progress"] = 100
    return message


@ws_router.websocket("/ws/audits/{audit_id}")
async def audit_progress(websocket: WebSocket, audit_id: int) -> None:
    """The audit's progress as `{progress: int (percent), status, stage}` messages, from its
    first event (or after `?after=<seq>`), closing once the audit has ended."""

    async def resolve(session: AsyncSession, principal) -> int:
        return await audits_service.job_id_of(session, principal, audit_id)

    await serve_job_socket(websocket, resolve, shape=progress_message)


def setup(app: FastAPI) -> None:
    state = app.state
    if not hasattr(state, "audit_finished_hooks"):
        state.audit_finished_hooks = []

    async def delete_user_reports(session: AsyncSession, user_id: int) -> None:
        await audits_service.delete_users_reports(session, state.storage, state.settings, user_id)

    async def mail_owner(user_id: int, event: str, payload: dict[str, Any]) -> None:
        mailer = getattr(state, "mailer", None)
        if mailer is None or not mailer.configured:
            return
        async with state.db.sessions() as session:
            owner = await users_service.get_user(session, user_id)
        subject, text = audit_mail(event, payload["audit"], state.settings.public_base_url)
        await mailer.deliver(owner.email, subject, text)

    state.user_deletion_hooks.append(delete_user_reports)
    state.audit_finished_hooks.append(mail_owner)


def audit_mail(event: str, audit: dict[str, Any], base_url: str | None) -> tuple[str, str]:
    """The owner's email when an audit ends: subject and plain text."""
    where = f"{(base_url or '').rstrip('/')}/api/v1/audits/{audit['id']}"
    if event == "audit.completed":
        summary = audit.get("summary") or {}
        findings = ", ".join(f"{n} {s}" for s, n in (summary.get("findings") or {}).items() if n)
        return (
            f"Audit of {audit['repository']} completed: risk {summary.get('risk_score')}/100",
            f"The audit of {audit['repository']} has completed.\n\n"
            f"Files scanned: {audit['filesScanned']}\n"
            f"Risk score: {summary.get('risk_score')}/100 ({summary.get('risk_level')})\n"
            f"Findings: {findings or 'none'}\n"
            f"Project license: {summary.get('project_license') or 'none declared'}\n\n"
            f"Reports (JSON, HTML, PDF): {where}/report?format=html\n",
        )
    return (
        f"Audit of {audit['repository']} failed",
        f"The audit of {audit['repository']} failed: {audit.get('error')}\n\n{where}\n",
    )
