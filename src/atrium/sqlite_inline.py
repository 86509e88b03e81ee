"""SQLite on the event-loop thread: an aiosqlite-shaped driver connection.

aiosqlite runs every call on a worker thread: a 20 µs indexed read becomes half a dozen
thread hand-offs (cursor, execute, fetch, close, commit, reset). This driver runs them inline
instead; `bench/scenarios/creates.py` and the list scenarios measure it beside aiosqlite in the
same run (`*_stock` rows).

A call must never block the loop on a lock, so the connection's busy timeout is zero. Within a
process, writers queue on the engine's write lock (`sqlite_tx`) and never meet each other in
SQLite; a statement that still finds the database busy (another process writing, a
checkpoint) is run again on a worker thread with the busy timeout, where SQLite's own busy
handler waits. Only statements that made no change are retried: SQLite reports busy before it
writes. Long queries do not belong here: they run on `Database.long_reads` (aiosqlite).

The dialect drives this through `create_async_engine(async_creator=...)`; the attributes it
reads besides aiosqlite's public methods (`_connection`, `_conn`, `_tx`, `stop`) are pinned by
`tests/core/test_sqlite_driver.py::test_sqlalchemy_adapter_contract`.
"""

import asyncio
import sqlite3
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

T = TypeVar("T")


def is_busy(error: sqlite3.OperationalError) -> bool:
    message = str(error)
    return "locked" in message or "busy" in message


class Cursor:
    def __init__(self, connection: "Connection", cursor: sqlite3.Cursor) -> None:
        self._owner = connection
        self._cursor = cursor

    async def __aenter__(self) -> "Cursor":
        return self

    async def __aexit__(self, *_exc: object) -> None:
        self._cursor.close()

    async def execute(self, sql: str, parameters: Any = ()) -> "Cursor":
        await self._owner.run(lambda: self._cursor.execute(sql, parameters))
        return self

    async def executemany(self, sql: str, parameters: Iterable[Any]) -> "Cursor":
        rows = list(parameters)
        await self._owner.run(lambda: self._cursor.executemany(sql, rows))
        return self

    async def fetchone(self) -> Any:
        return self._cursor.fetchone()

    async def fetchmany(self, size: int | None = None) -> list[Any]:
        return self._cursor.fetchmany(size if size is not None else self._cursor.arraysize)

    async def fetchall(self) -> list[Any]:
        return self._cursor.fetchall()

    async def close(self) -> None:
        self._cursor.close()

    @property
    def description(self) -> Any:
        return self._cursor.description

    @property
    def rowcount(self) -> int:
        return self._cursor.rowcount

    @property
    def lastrowid(self) -> int | None:
        return self._cursor.lastrowid

    @property
    def arraysize(self) -> int:
        return self._cursor.arraysize

    @arraysize.setter
    def arraysize(self, value: int) -> None:
        self._cursor.arraysize = value


class _RunNow:
    """Stands in for aiosqlite's job queue, which the dialect uses to set isolation levels."""

    def put_nowait(self, job: tuple[asyncio.Future, Callable[[], Any]]) -> None:
        future, function = job
        try:
            future.set_result(function())
        except Exception as error:
            future.set_exception(error)


class Connection:
    def __init__(self, connection: sqlite3.Connection, busy_timeout_s: float) -> None:
        self._conn = connection
        self._connection: sqlite3.Connection | None = connection
        self._tx = _RunNow()
        self._busy_timeout_ms = int(busy_timeout_s * 1000)

    async def run(self, call: Callable[[], T]) -> T:
        """`call` inline; if the database is busy, again on a thread that waits for it."""
        try:
            return call()
        except sqlite3.OperationalError as error:
            if not is_busy(error) or self._busy_timeout_ms <= 0:
                raise
        return await asyncio.to_thread(self._waiting_for_lock, call)

    def _waiting_for_lock(self, call: Callable[[], T]) -> T:
        self._conn.execute(f"PRAGMA busy_timeout = {self._busy_timeout_ms}")
        try:
            return call()
        finally:
            self._conn.execute("PRAGMA busy_timeout = 0")

    @property
    def in_transaction(self) -> bool:
        return self._conn.in_transaction

    async def cursor(self) -> Cursor:
        return Cursor(self, self._conn.cursor())

    async def execute(self, sql: str, parameters: Any = ()) -> Cursor:
        cursor = await self.cursor()
        return await cursor.execute(sql, parameters)

    async def commit(self) -> None:
        await self.run(self._conn.commit)

    async def rollback(self) -> None:
        self._conn.rollback()

    async def close(self) -> None:
        if self._connection is not None:
            self._connection = None
            self._conn.close()

    def stop(self) -> None:
        if self._connection is not None:
            self._connection = None
            self._conn.close()

    async def create_function(self, *args: Any, **kwargs: Any) -> None:
        self._conn.create_function(*args, **kwargs)


async def connect(database: str, *, busy_timeout_s: float, uri: bool = False) -> Connection:
    raw = sqlite3.connect(
        database, check_same_thread=False, timeout=0, isolation_level=None, uri=uri
    )
    return Connection(raw, busy_timeout_s)
