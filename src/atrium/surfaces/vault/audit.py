"""Vault's audit pages over the request audit log: `/vault/admin/audit`, `/stats`, `/export`."""

import csv
import io
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel

from atrium.auditlog import service as auditlog_service
from atrium.auditlog.auth import LogsRead
from atrium.auth.principal import Principal
from atrium.db import LongReadSessionDep
from atrium.usage import analytics as usage_analytics
from atrium.users import service as users_service

router = APIRouter(prefix="/vault/admin/audit", tags=["vault"])
MAX_ID = 2**31 - 1


class VaultAuditEntry(BaseModel):
    id: int
    timestamp: str
    action: str
    method: str | None = None
    path: str | None = None
    user_key_prefix: str | None = None
    model: str | None = None
    status_code: int | None = None
    latency_ms: float | None = None
    tokens_input: int | None = None
    tokens_output: int | None = None
    details: str | None = None


class VaultAuditPage(BaseModel):
    items: list[VaultAuditEntry]
    total: int
    limit: int
    offset: int


class VaultAuditStats(BaseModel):
    total_requests: int
    total_tokens: int
    avg_latency_ms: float
    requests_by_user: list[dict[str, Any]]
    requests_by_model: list[dict[str, Any]]
    requests_by_endpoint: list[dict[str, Any]]


def _filters(
    method: str | None,
    user: str | None,
    path: str | None,
    status_code: int | None,
    start_time: datetime | None,
    end_time: datetime | None,
) -> auditlog_service.AuditFilters:
    """`user` is a user id, or a key prefix (what Vault's table shows)."""
    by_id = user is not None and user.isdigit() and int(user) <= MAX_ID
    return auditlog_service.AuditFilters(
        method=method,
        user_id=int(user) if by_id else None,
        key_prefix=user if user and not by_id else None,
        path=path,
        status=status_code,
        since=start_time,
        until=end_time,
    )


def _entry(row: Any) -> VaultAuditEntry:
    return VaultAuditEntry(
        id=row.id,
        timestamp=row.created_at.isoformat().replace("+00:00", "Z"),
        action=f"{row.method} {row.route or row.path.split('?')[0]}",
        method=row.method,
        path=row.path,
        user_key_prefix=row.key_prefix,
        status_code=row.status,
        latency_ms=row.latency_ms,
        details=f"request {row.request_id} from {row.client or 'unknown'}",
    )


Method = Annotated[str | None, Query(max_length=10)]
User = Annotated[str | None, Query(max_length=64)]
PathPrefix = Annotated[str | None, Query(max_length=2000)]
Status = Annotated[int | None, Query(ge=100, le=599)]


@router.get("", response_model=VaultAuditPage)
async def list_vault_audit(
    principal: LogsRead,
    session: LongReadSessionDep,
    method: Method = None,
    user: User = None,
    path: PathPrefix = None,
    status_code: Status = None,
    start_time: datetime | None = None,
    end_time: datetime | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_ID)] = 0,
) -> VaultAuditPage:
    filters = _filters(method, user, path, status_code, start_time, end_time)
    rows, total = await auditlog_service.page(
        session, principal, filters, limit=limit, offset=offset
    )
    return VaultAuditPage(items=[_entry(r) for r in rows], total=total, limit=limit, offset=offset)


@router.get("/stats", response_model=VaultAuditStats)
async def get_vault_audit_stats(
    principal: LogsRead,
    session: LongReadSessionDep,
    start_time: datetime | None = None,
    end_time: datetime | None = None,
) -> VaultAuditStats:
    auditlog_service.ensure_reach(principal)
    since = start_time or datetime.now(UTC) - timedelta(days=30)
    days = max(1, (datetime.now(UTC) - since.astimezone(UTC)).days + 1)
    traffic = await auditlog_service.traffic(session, since)
    models = await usage_analytics.by_model(session, principal, min(days, 3650))
    busiest = await auditlog_service.requests_by_user(session, since, end_time)
    names = await users_service.usernames(session, [uid for uid, _ in busiest if uid])
    requests = traffic["requests"]
    return VaultAuditStats(
        total_requests=requests,
        total_tokens=sum(model["tokens"] for model in models["models"]),
        avg_latency_ms=round(traffic["latency_ms_sum"] / requests, 2) if requests else 0.0,
        requests_by_user=[
            {"user": names.get(uid, str(uid)), "user_id": str(uid), "count": n}
            for uid, n in busiest
        ],
        requests_by_model=[
            {"model": model["model"], "count": model["calls"]} for model in models["models"]
        ],
        requests_by_endpoint=[
            {"endpoint": f"{route['method']} {route['route']}", "count": route["requests"]}
            for route in traffic["top_routes"]
        ],
    )


async def _export(
    request: Request, principal: Principal, filters: Any, format: str
) -> AsyncIterator[bytes]:
    async with request.app.state.db.long_reads() as session:
        if format == "csv":
            header = list(VaultAuditEntry.model_fields)
            buffer = io.StringIO()
            csv.writer(buffer).writerow(header)
            yield buffer.getvalue().encode()
        else:
            yield b"["
        first = True
        async for row in auditlog_service.stream_entries(session, principal, filters):
            entry = _entry(row).model_dump()
            if format == "csv":
                buffer = io.StringIO()
                csv.writer(buffer).writerow([entry[name] for name in entry])
                yield buffer.getvalue().encode()
            else:
                yield (b"" if first else b",") + orjson.dumps(entry)
            first = False
        if format != "csv":
            yield b"]"


@router.get(
    "/export",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/csv": {}, "application/json": {}}}},
)
async def export_vault_audit(
    request: Request,
    principal: LogsRead,
    format: Literal["csv", "json"] = "csv",
    method: Method = None,
    user: User = None,
    start_time: datetime | None = None,
    end_time: datetime | None = None,
) -> StreamingResponse:
    filters = _filters(method, user, None, None, start_time, end_time)
    media = "text/csv" if format == "csv" else "application/json"
    stamp = datetime.now(UTC).date().isoformat()
    return StreamingResponse(
        _export(request, principal, filters, format),
        media_type=media,
        headers={"Content-Disposition": f'attachment; filename="audit-log-{stamp}.{format}"'},
    )
