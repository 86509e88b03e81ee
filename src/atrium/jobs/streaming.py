"""A job's events as a live stream: rows after a sequence number, woken by the bus.

Listeners subscribe first, then read the rows after the last one they sent, then wait for a
wake-up (or a short poll, for a bus that does not reach this process) and read again. The
stream ends after the job reaches a final status and its last rows are sent.

`stream_job_to_websocket` is what WebSocket routes mount: `/ws/jobs/{id}` here, and a
domain's own socket (`/ws/audits/{id}`) with its id mapping and message shape.
"""

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.websockets import WebSocket, WebSocketDisconnect

from atrium.jobs import service as jobs_service
from atrium.jobs.schemas import JobEventRead
from atrium.jobs.store import TERMINAL
from atrium.jobs.tables import Job

log = logging.getLogger("atrium.jobs")
POLL_SECONDS = 1.0


class _Waker:
    """Turns a bus subscription into an event a loop can wait on with a timeout."""

    def __init__(self, bus: Any, topic: str) -> None:
        self._event = asyncio.Event()
        self._subscribed = asyncio.Event()
        self._task = asyncio.create_task(self._pump(bus, topic))

    async def _pump(self, bus: Any, topic: str) -> None:
        try:
            async with bus.listen(topic) as messages:
                self._subscribed.set()
                async for _message in messages:
                    self._event.set()
        except Exception:  # the bus is down: listeners fall back to polling the rows
            log.warning("bus subscription to %s failed", topic, exc_info=True)
        finally:
            self._subscribed.set()

    async def subscribed(self) -> None:
        await self._subscribed.wait()

    async def wait(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._event.wait(), seconds)
        self._event.clear()

    async def close(self) -> None:
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await self._task


async def job_events(
    sessions: async_sessionmaker[AsyncSession], bus: Any, job_id: int, after_seq: int = 0
) -> AsyncIterator[JobEventRead]:
    """Every event of the job after `after_seq`, live, until the job is finished."""
    waker = _Waker(bus, f"job:{job_id}")
    await waker.subscribed()  # before the first read, so no wake-up falls in between
    try:
        last = after_seq
        while True:
            async with sessions() as session:
                status = await session.scalar(select(Job.status).where(Job.id == job_id))
                events = await jobs_service.events_after(session, job_id, last)
            for event in events:
                last = event.seq
                yield event
            if status is None or (status in TERMINAL and not events):
                return
            if not events:
                await waker.wait(POLL_SECONDS)
    finally:
        await waker.close()


def default_message(event: JobEventRead) -> dict[str, Any] | None:
    """`/ws/jobs/{id}`: the event with the job's status, progress (0..1) and stage."""
    message = event.model_dump(mode="json")
    for name in ("status", "progress", "stage"):
        if name in event.data:
            message[name] = event.data[name]
    return message


async def stream_job_to_websocket(
    websocket: WebSocket,
    job_id: int,
    *,
    sessions: async_sessionmaker[AsyncSession],
    bus: Any,
    shape: Callable[[JobEventRead], dict[str, Any] | None] = default_message,
    after_seq: int = 0,
) -> None:
    """Send the job's events (shaped; None skips one) to an accepted socket, then close it."""
    closed = asyncio.Event()

    async def watch_disconnect() -> None:
        with contextlib.suppress(WebSocketDisconnect, RuntimeError):
            while True:
                message = await websocket.receive()
                if message["type"] == "websocket.disconnect":
                    break
        closed.set()

    watcher = asyncio.create_task(watch_disconnect())
    try:
        async for event in job_events(sessions, bus, job_id, after_seq):
            if closed.is_set():
                return
            message = shape(event)
            if message is not None:
                await websocket.send_json(message)
        with contextlib.suppress(RuntimeError):
            await websocket.close(code=1000)
    except (WebSocketDisconnect, RuntimeError):
        return
    finally:
        watcher.cancel()


def sse_frame(event: JobEventRead) -> bytes:
    import orjson

    body = orjson.dumps(event.model_dump(mode="json")).decode()
    return f"id: {event.seq}\nevent: {event.type}\ndata: {body}\n\n".encode()


async def serve_job_socket(
    websocket: WebSocket,
    resolve: Callable[[AsyncSession, Any], Any],
    *,
    shape: Callable[[JobEventRead], dict[str, Any] | None] = default_message,
) -> None:
    """A whole job WebSocket: authenticate, find the job, stream it.

    `resolve(session, principal)` returns the job id the caller may read, or raises a
    NotFound (the socket closes with 4404). `?after=<seq>` resumes after an event.
    """
    from atrium.auth.websocket import CLOSE_NOT_FOUND, accept, refuse, websocket_principal
    from atrium.errors import NotFound

    principal = await websocket_principal(websocket)
    if principal is None:
        return
    state = websocket.app.state
    try:
        async with state.db.sessions() as session:
            job_id = await resolve(session, principal)
    except NotFound:
        await refuse(websocket, CLOSE_NOT_FOUND, "not found")
        return
    after = websocket.query_params.get("after", "0")
    await accept(websocket)
    await stream_job_to_websocket(
        websocket,
        job_id,
        sessions=state.db.sessions,
        bus=state.bus,
        shape=shape,
        after_seq=int(after) if after.isdigit() else 0,
    )
