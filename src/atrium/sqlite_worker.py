"""A worker thread with its own sqlite3 connection to the app's database file, for batch
writes that must not hold the event loop.

The app's SQLite driver runs statements on the event-loop thread (`sqlite_inline.py`): a batch
of a few hundred rows there holds every request for milliseconds, and a commit that crosses
the WAL's auto-checkpoint threshold holds it for the checkpoint's fsyncs as well. Here the
sqlite3 driver releases the GIL while SQLite works, and a write lock held by a request's
transaction is waited for with SQLite's busy timeout in this thread, not on the loop.
"""

import asyncio
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from sqlalchemy.engine import make_url

T = TypeVar("T")
LOCK_WAIT_SECONDS = 30.0


def sqlite_file(url: str) -> str | None:
    """The database file of a SQLite URL; None for other backends and in-memory databases
    (another connection would see another database)."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return None
    database = parsed.database
    if not database or database == ":memory:" or parsed.query.get("mode") == "memory":
        return None
    return database


class SqliteWorker:
    """`call(function, *args)` runs `function(connection, *args)` in the thread; the
    connection is in autocommit mode, so the function begins and ends its own transaction."""

    def __init__(self, path: str, *, name: str, synchronous: str = "NORMAL") -> None:
        self.path = path
        self.synchronous = synchronous
        self.executor = ThreadPoolExecutor(1, thread_name_prefix=name)
        self.connection: sqlite3.Connection | None = None
        self.closed = False

    def _connect(self) -> sqlite3.Connection:
        connection = sqlite3.connect(
            self.path, timeout=LOCK_WAIT_SECONDS, isolation_level=None, check_same_thread=False
        )
        connection.execute("PRAGMA foreign_keys=ON")
        connection.execute(f"PRAGMA synchronous={self.synchronous}")
        return connection

    def _run(self, function: Callable[..., T], args: tuple) -> T:
        if self.connection is None:
            self.connection = self._connect()
        try:
            return function(self.connection, *args)
        except BaseException:
            # whatever state the failure left the connection in, the next call starts afresh
            self._close_connection()
            raise

    async def call(self, function: Callable[..., T], *args: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.executor, self._run, function, args)

    def _close_connection(self) -> None:
        if self.connection is not None:
            connection, self.connection = self.connection, None
            connection.close()

    def close(self) -> None:
        """Close the connection in its thread and end the thread."""
        if self.closed:
            return
        self.closed = True
        self.executor.submit(self._close_connection).result()
        self.executor.shutdown()


def write_transaction(connection: sqlite3.Connection, work: Callable[[], T]) -> T:
    """`work()` in one IMMEDIATE transaction on `connection`: committed, or rolled back when
    it raises."""
    connection.execute("BEGIN IMMEDIATE")
    try:
        result = work()
    except BaseException:
        connection.execute("ROLLBACK")
        raise
    connection.execute("COMMIT")
    return result
