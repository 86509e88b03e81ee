"""A worker thread with its own synchronous connection to the app's SQLite database file, for
the audit log's bulk work (appending batches, walking the chain).

The app's own SQLite driver runs statements on the event-loop thread; a batch of thousands of
rows (or a walk over a million) would hold the loop for its whole duration. Here the sqlite3
driver releases the GIL while SQLite works, and a write lock held by a request transaction is
waited for with SQLite's busy timeout in this thread, not on the loop.
"""

import asyncio
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from sqlalchemy import Connection, create_engine, event
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.pool import StaticPool

T = TypeVar("T")
LOCK_WAIT_SECONDS = 30.0


def _null(value: None) -> None:
    return value


# Binding None, the sqlite3 module looks for an adapter (a registry miss, then attribute
# lookups on the protocol and on None) before it binds NULL: several times the cost of binding
# a number, paid for each NULL column of each audit row. An identity adapter makes that a
# registry hit. It applies to every sqlite3 connection in the process; what is bound is the
# same NULL.
sqlite3.register_adapter(type(None), _null)


def sqlite_file_of(engine: AsyncEngine) -> str | None:
    """The database file of a SQLite engine; None for other backends and in-memory ones."""
    url = engine.url
    if url.get_backend_name() != "sqlite":
        return None
    database = url.database
    if not database or database == ":memory:" or url.query.get("mode") == "memory":
        return None
    return database


def _pragmas(read_only: bool) -> Callable[[Any, Any], None]:
    def apply(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        if read_only:
            cursor.execute("PRAGMA query_only=ON")
        cursor.close()

    return apply


class SqliteThread:
    def __init__(self, path: str, *, name: str, read_only: bool = False) -> None:
        self.engine = create_engine(
            f"sqlite:///{path}",
            poolclass=StaticPool,
            connect_args={"timeout": LOCK_WAIT_SECONDS, "check_same_thread": False},
        )
        event.listen(self.engine, "connect", _pragmas(read_only))
        self.executor = ThreadPoolExecutor(1, thread_name_prefix=name)
        self.connection: Connection | None = None
        self.closed = False

    def _run(self, function: Callable[..., T], args: tuple) -> T:
        if self.connection is None:
            self.connection = self.engine.connect()
        try:
            return function(self.connection, *args)
        except BaseException:
            # whatever state the failure left the connection in, the next call starts afresh
            self._close_connection()
            raise

    async def call(self, function: Callable[..., T], *args: Any) -> T:
        """`function(connection, *args)` in the thread; it manages its own transaction."""
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
        self.engine.dispose()
