"""`/api/v1/jobs`: list, read, control and delete jobs; their events as SSE; WebSockets
`/ws/jobs/{id}` and the per-user `/ws/events`."""

import asyncio
import contextlib
from importlib import import_module
from typing import Annotated

from fastapi import APIRouter, FastAPI, Header, Query, Request, Response, WebSocket
from fastapi.responses import StreamingResponse

from atrium.auth.deps import CurrentPrincipal
from atrium.auth.websocket import accept, websocket_principal
from atrium.db import SessionDep, share_with_sessions
from atrium.events import bus as events_bus
from atrium.jobs import service as jobs_service
from atrium.jobs.engine import JobEngine
from atrium.jobs.outbox import ALL_JOBS_TOPIC
from atrium.jobs.schemas import JobDeleted, JobRead, JobStatus
from atrium.jobs.streaming import job_events, serve_job_socket, sse_frame
from atrium.params import MAX_ID, Cursor, IdPath, Limit

router = APIRouter(prefix="/api/v1/jobs", tags=["jobs"])
ws_router = APIRouter(tags=["jobs"])
routers = [router, ws_router]

JobId = IdPath
NOT_FOUND = {404: {"description": "No such job, or not visible to the caller"}}
CONFLICT = {409: {"description": "`invalid_status_transition`, with `allowed`"}}


@router.get(
    "",
    response_model=list[JobRead],
    description="Jobs the caller may read, newest first: their own, and others' where their "
    "role's reach covers the kind's domain. The next page's cursor comes in `X-Next-Cursor`.",
)
async def list_jobs(
    response: Response,
    principal: CurrentPrincipal,
    session: SessionDep,
    kind: Annotated[str | None, Query(max_length=100)] = None,
    status: JobStatus | None = None,
    limit: Limit = 100,
    cursor: Cursor = None,
) -> list[JobRead]:
    jobs, next_before = await jobs_service.list_visible(
        session, principal, kind=kind, status=status, limit=limit, before_id=cursor
    )
    if next_before is not None:
        response.headers["X-Next-Cursor"] = str(next_before)
    return jobs


@router.get("/{job_id}", response_model=JobRead, responses=NOT_FOUND)
async def read_job(job_id: JobId, principal: CurrentPrincipal, session: SessionDep) -> JobRead:
    return await jobs_service.get_visible(session, principal, job_id)


@router.post("/{job_id}/pause", response_model=JobRead, responses={**NOT_FOUND, **CONFLICT})
async def pause_job(job_id: JobId, principal: CurrentPrincipal, session: SessionDep) -> JobRead:
    await jobs_service.get_visible(session, principal, job_id, "write")
    return await jobs_service.request_pause(session, job_id)


@router.post("/{job_id}/resume", response_model=JobRead, responses={**NOT_FOUND, **CONFLICT})
async def resume_job(job_id: JobId, principal: CurrentPrincipal, session: SessionDep) -> JobRead:
    await jobs_service.get_visible(session, principal, job_id, "write")
    return await jobs_service.request_resume(session, job_id)


@router.post("/{job_id}/cancel", response_model=JobRead, responses={**NOT_FOUND, **CONFLICT})
async def cancel_job(job_id: JobId, principal: CurrentPrincipal, session: SessionDep) -> JobRead:
    await jobs_service.get_visible(session, principal, job_id, "write")
    return await jobs_service.request_cancel(session, job_id)


@router.delete(
    "/{job_id}",
    response_model=JobDeleted,
    responses={**NOT_FOUND, 409: {"description": "`job_not_finished`"}},
)
async def delete_job(job_id: JobId, principal: CurrentPrincipal, session: SessionDep) -> JobDeleted:
    await jobs_service.get_visible(session, principal, job_id, "delete")
    await jobs_service.delete(session, job_id)
    return JobDeleted(id=str(job_id))


@router.get(
    "/{job_id}/events",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}}, **NOT_FOUND},
    description="Server-sent events: every event of the job (`id` is its sequence number), "
    "live until the job finishes. `Last-Event-ID` (or `?after=`) resumes after an event.",
)
async def stream_job_events(
    request: Request,
    job_id: JobId,
    principal: CurrentPrincipal,
    session: SessionDep,
    last_event_id: Annotated[str | None, Header()] = None,
    after: Annotated[int | None, Query(ge=0, le=MAX_ID)] = None,
) -> StreamingResponse:
    await jobs_service.get_visible(session, principal, job_id)
    start = after or 0
    if last_event_id and last_event_id.strip().isdigit():
        start = int(last_event_id.strip())
    state = request.app.state

    async def frames():
        yield b": stream of job events\n\n"
        async for event in job_events(state.db.sessions, state.bus, job_id, start):
            yield sse_frame(event)

    return StreamingResponse(
        frames(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


@ws_router.websocket("/ws/jobs/{job_id}")
async def job_socket(websocket: WebSocket, job_id: int) -> None:
    async def resolve(session, principal) -> int:
        return (await jobs_service.get_visible(session, principal, job_id)).id

    await serve_job_socket(websocket, resolve)


@ws_router.websocket("/ws/events")
async def user_events_socket(websocket: WebSocket) -> None:
    """Live events of every job the caller may read: their own, and others' where their
    role's reach covers the job's domain (as `/api/v1/jobs` lists them)."""
    principal = await websocket_principal(websocket)
    if principal is None:
        return
    bus = websocket.app.state.bus
    wide = jobs_service.reaches_others(principal)
    topic = ALL_JOBS_TOPIC if wide else f"user:{principal.user_id}"
    async with bus.listen(topic) as messages:
        await accept(websocket)

        async def forward() -> None:
            async for message in messages:
                owner_id = message.pop("owner_id", principal.user_id)
                if jobs_service.may_see(principal, message.get("kind", ""), owner_id):
                    await websocket.send_json(message)

        sender = asyncio.create_task(forward())
        try:
            with contextlib.suppress(Exception):
                while (await websocket.receive())["type"] != "websocket.disconnect":
                    pass
        finally:
            sender.cancel()
            with contextlib.suppress(BaseException):
                await sender


def setup(app: FastAPI) -> None:
    state = app.state
    settings = state.settings
    state.bus = events_bus.make_bus(state.redis)
    events_bus.install(state.bus)
    for module in settings.jobs_imports:
        import_module(module)
    dispatcher, role = None, "local"
    if settings.jobs_executor == "celery":
        from atrium.jobs.celery_app import make_dispatcher

        dispatcher, role = make_dispatcher(settings), "dispatch"
    engine = JobEngine(
        settings, state.db.sessions, state.bus, role=role, app_state=state, dispatcher=dispatcher
    )
    state.jobs = engine
    share_with_sessions(state.db.sessions, **{jobs_service.RUNTIME_KEY: engine})

    async def start(app: FastAPI) -> None:
        engine.role = getattr(app.state, "jobs_role", engine.role)
        await engine.start()

    async def stop(app: FastAPI) -> None:
        await engine.stop()

    state.startup_hooks.append(start)
    state.shutdown_hooks.append(stop)
