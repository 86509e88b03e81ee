"""`WebSocket /ws/client`: the caller's cloud events, live (account connected, discovery
progress, waste found, approval asked, pipeline steps). Only events of the caller's own
accounts are addressed to them. `?after=<id>` resumes after an event already received;
without it the stream starts with what happens after the connection."""

import asyncio
import contextlib

from fastapi import APIRouter, WebSocket

from atrium.auth.websocket import accept, websocket_principal
from atrium.cloud import events as cloud_events
from atrium.jobs.streaming import POLL_SECONDS

router = APIRouter(tags=["cloud"])


async def _watch_disconnect(websocket: WebSocket, closed: asyncio.Event) -> None:
    with contextlib.suppress(Exception):
        while (await websocket.receive())["type"] != "websocket.disconnect":
            pass
    closed.set()


@router.websocket("/ws/client")
async def client_events_socket(websocket: WebSocket) -> None:
    principal = await websocket_principal(websocket, "cloud", "read")
    if principal is None:
        return
    state = websocket.app.state
    after = websocket.query_params.get("after", "")
    async with state.bus.listen(cloud_events.topic(principal.user_id)) as messages:
        async with state.db.sessions() as session:
            last = (
                int(after)
                if after.isdigit()
                else await cloud_events.last_id(session, principal.user_id)
            )
        await accept(websocket)
        woken = asyncio.Event()
        closed = asyncio.Event()

        async def pump() -> None:
            async for _ in messages:
                woken.set()

        tasks = [
            asyncio.create_task(pump()),
            asyncio.create_task(_watch_disconnect(websocket, closed)),
        ]
        try:
            while not closed.is_set():
                async with state.db.sessions() as session:
                    rows = await cloud_events.after(session, principal.user_id, last)
                for row in rows:
                    await websocket.send_json(cloud_events.message(row))
                    last = row.id
                if len(rows) < cloud_events.PAGE:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(woken.wait(), POLL_SECONDS)
                    woken.clear()
        except Exception:  # the client went away mid-send
            return
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(BaseException):
                    await task
