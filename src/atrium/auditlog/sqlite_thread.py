"""A worker thread with its own synchronous connection to the app's SQLite database file, for
the audit log's bulk work (appending batches, walking the chain).

The app's own SQLite driver runs statements on the event-loop thread; a batch of thousands of
rows (or a walk over a million) would hold the loop for its whole duration. Here the sqlite3
driver releases the GIL while SQLite works, and a write lock held by a request transaction is
waited for with SQLite's busy timeout in this thread, not on the loop.
"""

import sqlite3
from collections.abc import Callable
from typing import Any

from sqlalchemy import Connection, create_engine, event
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.pool import StaticPool

from atrium.sqlite_worker import LOCK_WAIT_SECONDS, SqliteWorker, sqlite_file


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
    return sqlite_file(engine.url)


def _pragmas(read_only: bool) -> Callable[[Any, Any], None]:
    def apply(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        if read_only:
            cursor.execute("PRAGMA query_only=ON")
        cursor.close()

    return apply


class SqliteThread(SqliteWorker):
    """A `SqliteWorker` whose calls get a SQLAlchemy `Connection` (the audit log builds its
    statements with Core), optionally read-only."""

    def __init__(self, path: str, *, name: str, read_only: bool = False) -> None:
        super().__init__(path, name=name)
        self.engine = create_engine(
            f"sqlite:///{path}",
            poolclass=StaticPool,
            connect_args={"timeout": LOCK_WAIT_SECONDS, "check_same_thread": False},
        )
        event.listen(self.engine, "connect", _pragmas(read_only))

    def _connect(self) -> Connection:  # type: ignore[override]
        return self.engine.connect()

    def close(self) -> None:
        super().close()
        self.engine.dispose()
