"""Lago sync runs: requested over HTTP or fired by a schedule, each a `billing.sync` job that
fetches Lago's records whole, then writes them in one transaction - a run that fails (Lago
unreachable, key refused, a bad record) writes nothing and records its cause; the data of the
last good run stays. Usage events for Lago are sent by a small loop in each API process."""

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
from atrium.db import utcnow
from atrium.jobs import service as jobs_service
from atrium.usage import service as usage_service

log = logging.getLogger("atrium.billing.sync")
KIND = "billing.sync"
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
    """Queue a run and its job (or return the run queued or running); the job is dispatched
    after the commit."""
    if not lago.configured(state.settings):
        raise LagoNotConfigured()
    run = await _unfinished(session)
    if run is not None:
        return run
    run = BillingSyncRun(status="queued", requested_by=user_id, counts={})
    session.add(run)
    await session.flush()
    job = await jobs_service.enqueue(
        session, kind=KIND, owner_id=user_id, payload={"run_id": run.id}
    )
    run.job_id = job.id
    await session.flush()
    return run


async def scheduled_run(
    sessions: async_sessionmaker[AsyncSession], settings: Settings, job_id: int
) -> int | None:
    """The run a scheduled job performs; None when Lago is not configured or a run is
    already in progress."""
    async with sessions() as session:
        if await lago.stored_config(session, settings) is None:
            return None
        if await _unfinished(session) is not None:
            await session.commit()
            return None
        run = BillingSyncRun(status="queued", job_id=job_id, counts={})
        session.add(run)
        await session.commit()
        return run.id


async def _finish(sessions, run_id: int, **values: Any) -> BillingSyncRun:
    async with sessions() as session:
        run = await session.get(BillingSyncRun, run_id)
        for field, value in values.items():
            setattr(run, field, value)
        run.finished_at = utcnow()
        await session.commit()
        return run


async def perform(
    sessions: async_sessionmaker[AsyncSession], settings: Settings, run_id: int
) -> BillingSyncRun:
    async with sessions() as session:
        run = await session.get(BillingSyncRun, run_id)
        run.status, run.started_at = "running", utcnow()
        config = await lago.stored_config(session, settings)
        await session.commit()
    try:
        async with lago.LagoClient(config) as client:
            data = await client.fetch_everything()
        async with sessions() as session:
            counts = await lago_records.apply(session, data)
            await session.commit()
    except lago.LagoError as exc:
        log.warning("Lago sync %s failed: %s", run_id, exc)
        return await _finish(sessions, run_id, status="failed", error=str(exc))
    except Exception as exc:
        log.exception("Lago sync %s failed", run_id)
        return await _finish(sessions, run_id, status="failed", error=f"unexpected error: {exc!r}")
    return await _finish(sessions, run_id, status="completed", counts=counts, error=None)


class EventSender:
    """Posts the usage events of Lago subscribers, in each API process, whenever Lago is
    configured (from the environment or, live, from the administrator settings)."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app
        self.task: asyncio.Task | None = None

    async def _forward(self, records: list[dict]) -> None:
        if lago.configured(self.app.state.settings):
            await events.enqueue(self.app.state.db.sessions, records)

    async def _send_due(self, client: lago.LagoClient) -> None:
        while (await events.send_due(self.app.state.db.sessions, client))["attempted"]:
            pass

    async def _loop(self) -> None:
        state = self.app.state
        client: lago.LagoClient | None = None
        try:
            while True:
                config = lago.config_of(state.settings)
                if client is not None and (config is None or client.config != config):
                    await client.close()
                    client = None
                if config is not None:
                    client = client or lago.LagoClient(config)
                    try:
                        await self._send_due(client)
                    except Exception:
                        log.exception("sending usage events to Lago failed")
                await asyncio.sleep(state.settings.lago_events_flush_seconds)
        finally:
            if client is not None:
                await client.close()

    async def on_start(self, app: FastAPI) -> None:
        usage_service.on_usage_batch(app.state, self._forward)
        if app.state.settings.lago_events_flush_seconds > 0:
            self.task = asyncio.get_running_loop().create_task(self._loop())

    async def on_stop(self, app: FastAPI) -> None:
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self.task


def setup(app: FastAPI) -> None:
    sender = EventSender(app)
    app.state.startup_hooks.append(sender.on_start)
    app.state.shutdown_hooks.append(sender.on_stop)
