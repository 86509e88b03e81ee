"""ForgeTrace's audits (seed 001; CONTRACTS): `/api/v1/audits…` in camelCase with the
`{audits, total}` envelope, reports as file bytes, and `WebSocket /ws/audits/{id}` with
integer-percent progress."""

import asyncio
import contextlib
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, FastAPI, Path, Query, Request, Response, WebSocket
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field
from pydantic.alias_generators import to_camel
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.websockets import WebSocketDisconnect

from atrium.audits import service as audits_service
from atrium.audits.auth import AuditsDelete, AuditsRead, AuditsWrite
from atrium.audits.runner import LocalAuditRunner, ProgressBoard
from atrium.audits.schemas import AuditCreate
from atrium.audits.tables import Audit
from atrium.auth.deps import authenticate
from atrium.db import SessionDep
from atrium.errors import AtriumError

router = APIRouter(prefix="/api/v1/audits", tags=["forgetrace", "audits"])
ws_router = APIRouter(tags=["forgetrace", "audits"])
routers = [router, ws_router]

IdPath = Annotated[int, Path(ge=1, le=2**31 - 1)]
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


def shape(audit: Audit) -> AuditOut:
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
    audit = await audits_service.create(
        session,
        principal,
        state.settings,
        body,
        dispatch=state.audit_runner.dispatch,
        files_limit=getattr(state, "files_scanned_limit", None),
    )
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
    await audits_service.delete(
        session,
        principal,
        state.storage,
        state.settings,
        audit_id,
        cancel=state.audit_runner.cancel,
    )
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


def _credential(websocket: WebSocket) -> str | None:
    authorization = websocket.headers.get("authorization") or ""
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return websocket.headers.get("x-api-key") or websocket.query_params.get("token")


async def _snapshot(session: AsyncSession, principal, audit_id: int) -> dict[str, Any]:
    audit = await audits_service.get_owned(session, principal, audit_id)
    message = {
        "progress": round(100 * (audit.progress or 0.0)),
        "status": audit.status,
        "stage": audit.stage,
        "filesScanned": audit.files_scanned,
    }
    if audit.status == "failed":
        message["error"] = audit.error
    await session.rollback()  # end the read transaction; the next read sees new commits
    return message


@ws_router.websocket("/ws/audits/{audit_id}")
async def audit_progress(websocket: WebSocket, audit_id: int) -> None:
    """`{progress: int (percent), status, stage, filesScanned}` on every change; closes once the
    audit has finished. Credentials: `Authorization: Bearer`, `X-API-Key` or `?token=`."""
    state = websocket.app.state
    websocket.scope.setdefault("state", {})
    credential = _credential(websocket)
    if not credential:
        await websocket.close(code=4401, reason="Not authenticated")
        return
    try:
        principal = await authenticate(websocket, credential)  # type: ignore[arg-type]
    except AtriumError as exc:
        await websocket.close(code=4401, reason=exc.detail[:120])
        return
    if not principal.can("audits", "read"):
        await websocket.close(code=4403, reason="Not enough permissions")
        return
    board: ProgressBoard = state.audit_board
    async with state.db.sessions() as session:
        wake = board.event_for(audit_id)  # before the read: no change slips in between
        try:
            message = await _snapshot(session, principal, audit_id)
        except AtriumError:
            await websocket.close(code=4404, reason="Audit not found")
            return
        await websocket.accept()
        sent = None
        with contextlib.suppress(WebSocketDisconnect):
            while True:
                if message != sent:
                    await websocket.send_json(message)
                    sent = message
                if message["status"] in FINISHED:
                    await websocket.close()
                    return
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(wake.wait(), WS_POLL_SECONDS)
                wake = board.event_for(audit_id)
                try:
                    message = await _snapshot(session, principal, audit_id)
                except AtriumError:
                    await websocket.send_json({"status": "deleted"})
                    await websocket.close()
                    return


def setup(app: FastAPI) -> None:
    state = app.state
    state.audit_board = ProgressBoard()
    state.audit_runner = LocalAuditRunner(state)
    if not hasattr(state, "audit_finished_hooks"):
        state.audit_finished_hooks = []

    async def delete_user_reports(session: AsyncSession, user_id: int) -> None:
        await audits_service.delete_users_reports(session, state.storage, state.settings, user_id)

    async def resume_pending(_app: FastAPI) -> None:
        async with state.db.sessions() as session:
            for audit in await audits_service.unfinished(session):
                await state.audit_runner.dispatch(audit)

    async def stop_runner(_app: FastAPI) -> None:
        await state.audit_runner.close()

    state.user_deletion_hooks.append(delete_user_reports)
    state.startup_hooks.append(resume_pending)
    state.shutdown_hooks.append(stop_runner)
