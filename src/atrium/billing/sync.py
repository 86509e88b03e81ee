"""Lago sync runs: requested over HTTP or on a schedule, fetched whole, then written in one
transaction - a run that fails (Lago unreachable, key refused, a bad record) writes nothing
and records its cause; the data of the last good run stays."""

import asyncio
import contextlib
import logging
from datetime import timedelta
from typing import Any

from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from atrium.billing import events, lago, lago_records
from atrium.billing.errors import LagoNotConfigured
from atrium.billing.tables import BillingSyncRun
from atrium.config import Settings
from atrium.db import after_commit, utcnow
from atrium.usage import service as usage_service

log = logging.getLogger("atrium.billing.sync")
STALE_AFTER = timedelta(hours=1)


async def last_run(session: AsyncSession) -> BillingSyncRun | None:
    return await session.scalar(select(BillingSyncRun).order_by(BillingSyncRun.id.desc()).limit(1))


async def _unfinished(session: AsyncSession) -> BillingSyncRun | None:
    run = await session.scalar(
        select(BillingSyncRun)
        .where(BillingSyncRun.status.in_(("queued", "running")))
        .order_by(BillingSyncRun.id.desc())
        .limit(1)
    )
    if run is not None and run.created_at < utcnow() - STALE_AFTER:
        run.status, run.error, run.finished_at = "failed", "abandoned (no progress)", utcnow()
        return None
    return run


async def request_run(session: AsyncSession, state: Any, user_id: int | None) -> BillingSyncRun:
    """Queue a run (or return the one queued or running); it starts after the commit."""
    if not lago.configured(state.settings):
        raise LagoNotConfigured()
    run = await _unfinished(session)
    if run is not None:
        return run
    run = BillingSyncRun(status="queued", requested_by=user_id, counts={})
    session.add(run)
    await session.flush()
    run_id = run.id

    async def dispatch() -> None:
        state.billing_sync.start(run_id)

    after_commit(session, dispatch)
    return run


async def _finish(sessions, run_id: int, **values: Any) -> None:
    async with sessions() as session:
        run = await session.get(BillingSyncRun, run_id)
        for field, value in values.items():
            setattr(run, field, value)
        run.finished_at = utcnow()
        await session.commit()


async def perform(
    sessions: async_sessionmaker[AsyncSession], settings: Settings, run_id: int
) -> None:
    async with sessions() as session:
        run = await session.get(BillingSyncRun, run_id)
        run.status, run.started_at = "running", utcnow()
        await session.commit()
    try:
        async with lago.LagoClient(settings) as client:
            data = await client.fetch_everything()
        async with sessions() as session:
            counts = await lago_records.apply(session, data)
            await session.commit()
    except lago.LagoError as exc:
        log.warning("Lago sync %s failed: %s", run_id, exc)
        await _finish(sessions, run_id, status="failed", error=str(exc))
        return
    except Exception as exc:
        log.exception("Lago sync %s failed", run_id)
        await _finish(sessions, run_id, status="failed", error=f"unexpected error: {exc!r}")
        return
    await _finish(sessions, run_id, status="completed", counts=counts, error=None)


class SyncRunner:
    """Runs sync runs in this process, and the periodic sync and event sender loops."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app
        self.tasks: set[asyncio.Task] = set()

    def _spawn(self, coroutine) -> asyncio.Task:
        task = asyncio.get_running_loop().create_task(coroutine)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return task

    def start(self, run_id: int) -> asyncio.Task:
        state = self.app.state
        return self._spawn(perform(state.db.sessions, state.settings, run_id))

    async def wait(self) -> None:
        """Until every run started here has finished (shutdown, tests)."""
        while self.tasks:
            await asyncio.gather(*list(self.tasks), return_exceptions=True)

    async def _periodic_sync(self) -> None:
        state = self.app.state
        while True:
            await asyncio.sleep(state.settings.billing_sync_seconds)
            try:
                async with state.db.sessions() as session:
                    if await _unfinished(session) is not None:
                        continue
                    run = BillingSyncRun(status="queued", counts={})
                    session.add(run)
                    await session.commit()
                await perform(state.db.sessions, state.settings, run.id)
            except Exception:
                log.exception("scheduled Lago sync failed")

    async def _event_sender(self) -> None:
        state = self.app.state
        async with lago.LagoClient(state.settings) as client:
            while True:
                try:
                    while (await events.send_due(state.db.sessions, client))["attempted"]:
                        pass
                except Exception:
                    log.exception("sending usage events to Lago failed")
                await asyncio.sleep(state.settings.lago_events_flush_seconds)

    async def on_start(self, app: FastAPI) -> None:
        settings = app.state.settings
        if not lago.configured(settings):
            return
        usage_service.on_usage_batch(
            app.state, lambda records: events.enqueue(app.state.db.sessions, records)
        )
        if settings.billing_sync_seconds > 0:
            self._spawn(self._periodic_sync())
        if settings.lago_events_flush_seconds > 0:
            self._spawn(self._event_sender())

    async def on_stop(self, app: FastAPI) -> None:
        for task in list(self.tasks):
            task.cancel()
        for task in list(self.tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task


def setup(app: FastAPI) -> None:
    runner = app.state.billing_sync = SyncRunner(app)
    app.state.startup_hooks.append(runner.on_start)
    app.state.shutdown_hooks.append(runner.on_stop)
