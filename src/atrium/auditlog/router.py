"""`GET /api/v1/audit-log` and `GET /api/v1/audit-log/verify`."""

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, FastAPI, Query, Request, Response

from atrium.auditlog import service as auditlog_service
from atrium.auditlog import tasks as _retention  # noqa: F401  (registers the job)
from atrium.auditlog.auth import LogsRead
from atrium.auditlog.chain import Chainer
from atrium.auditlog.schemas import AuditLogRead, AuditVerifyRead
from atrium.auditlog.writer import AuditLogWriter
from atrium.db import LongReadSessionDep

router = APIRouter(prefix="/api/v1/audit-log", tags=["audit log"])
MAX_ID = 2**31 - 1


@router.get(
    "",
    response_model=list[AuditLogRead],
    description="Requests, newest first; the caller's own unless their role reads everyone's "
    "logs. The next page's cursor comes in `X-Next-Cursor`.",
)
async def list_audit_log(
    response: Response,
    principal: LogsRead,
    session: LongReadSessionDep,
    user_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    path: Annotated[str | None, Query(max_length=2000, description="Path prefix")] = None,
    status: Annotated[int | None, Query(ge=100, le=599)] = None,
    status_class: Annotated[
        int | None, Query(ge=1, le=5, description="1..5: every status of that hundred")
    ] = None,
    method: Annotated[str | None, Query(max_length=10)] = None,
    since: Annotated[datetime | None, Query(description="ISO 8601, inclusive")] = None,
    until: Annotated[datetime | None, Query(description="ISO 8601, exclusive")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    cursor: Annotated[int | None, Query(ge=1, le=MAX_ID, description="From X-Next-Cursor")] = None,
) -> list[AuditLogRead]:
    filters = auditlog_service.AuditFilters(
        user_id=user_id,
        path=path,
        status=status,
        status_class=status_class,
        method=method,
        since=since,
        until=until,
    )
    rows = await auditlog_service.list_entries(
        session, principal, filters, limit=limit, before_id=cursor
    )
    if len(rows) == limit:
        response.headers["X-Next-Cursor"] = str(rows[-1].id)
    return [AuditLogRead.model_validate(row) for row in rows]


@router.get(
    "/verify",
    response_model=AuditVerifyRead,
    description="Walks the whole chain, oldest first, and names the first row that was "
    "changed, removed or reordered. Needs a role that reads everyone's logs.",
)
async def verify_audit_log(
    request: Request, principal: LogsRead, session: LongReadSessionDep
) -> AuditVerifyRead:
    auditlog_service.ensure_reach(principal)
    result = await auditlog_service.verify(session, request.app.state.audit_log.chainer)
    return AuditVerifyRead(**result)


def setup(app: FastAPI) -> None:
    state = app.state
    chainer = Chainer(state.secrets.derive("audit-actor"), state.secrets.derive("audit-chain"))
    writer = AuditLogWriter(
        state.db.engine, chainer, every_seconds=state.settings.audit_flush_seconds
    )
    state.audit_log = writer

    async def start(_app: FastAPI) -> None:
        writer.start()

    async def stop(_app: FastAPI) -> None:
        await writer.stop()

    state.startup_hooks.append(start)
    state.shutdown_hooks.append(stop)
