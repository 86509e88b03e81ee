"""Analytics read on their own connections: on SQLite through aiosqlite's worker thread, so a
scan of many rows never holds the event loop (the main engine runs SQLite inline); on
PostgreSQL through the main pool."""

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, FastAPI, Request
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine


def _pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA query_only=ON")
    cursor.close()


async def _dispose(app: FastAPI) -> None:
    engine = getattr(app.state, "billing_reader_engine", None)
    if engine is not None:
        await engine.dispose()


def setup(app: FastAPI) -> None:
    settings = app.state.settings
    if not settings.is_sqlite:
        app.state.billing_reader = app.state.db.sessions
        return
    engine = create_async_engine(settings.resolved_database_url, pool_size=4, max_overflow=4)
    event.listen(engine.sync_engine, "connect", _pragmas)
    app.state.billing_reader_engine = engine
    app.state.billing_reader = async_sessionmaker(engine, expire_on_commit=False)
    app.state.shutdown_hooks.append(_dispose)


async def reader_session(request: Request) -> AsyncIterator[AsyncSession]:
    async with request.app.state.billing_reader() as session:
        yield session


ReaderDep = Annotated[AsyncSession, Depends(reader_session)]
