"""Analytics read on the database's long-read sessions (`Database.long_reads`): on SQLite
through aiosqlite's worker thread, so a scan of many rows never holds the event loop (the
main engine runs SQLite inline); on PostgreSQL through the main pool."""

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, FastAPI, Request
from sqlalchemy.ext.asyncio import AsyncSession


def setup(app: FastAPI) -> None:
    app.state.billing_reader = app.state.db.long_reads


async def reader_session(request: Request) -> AsyncIterator[AsyncSession]:
    async with request.app.state.billing_reader() as session:
        yield session


ReaderDep = Annotated[AsyncSession, Depends(reader_session)]
