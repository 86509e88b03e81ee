"""Short reads without a session or a pooled connection: what `ReadDep` gives a read route.

A read route runs one to three indexed queries of a few dozen rows. Through SQLAlchemy each
costs a pool checkout and return, a greenlet, an execution context and per-value result
processing: on SQLite about 300 µs per request around a query SQLite answers in 30 µs. A
`Reader` runs a `Prepared` statement (compiled once) as plain SQL:

- on a SQLite file, on one connection of its own, on the event-loop thread: a query of an
  autocommit connection is its own read transaction (WAL: it never waits on a writer), and
  it runs to its end without an await, so requests never meet on the connection. The rare
  busy answer (another process recovering the WAL) is retried through the engine, whose
  driver waits for the lock on a thread;
- elsewhere (PostgreSQL, `:memory:`, the stock aiosqlite driver), through the engine on a
  connection taken for the statement alone (on PostgreSQL in autocommit: each statement was
  already its own snapshot).

Rows come back as tuples, their values converted as SQLAlchemy converts them (the statement's
own result processors), so a record type's `_make` reads them as before. Statements built per
request (searches, filters) run through the engine as usual. A write route that must read
what its own transaction wrote takes `await in_transaction(session)`: the same interface on the
session's connection.
"""

import sqlite3
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession
from sqlalchemy.sql import Executable

from atrium.prepared import Prepared
from atrium.sqlite_inline import is_busy

Params = Mapping[str, Any]
MMAP_BYTES = 256 * 1024 * 1024


class Reader:
    def __init__(
        self,
        engine: AsyncEngine | None,
        sqlite_file: tuple[str, bool] | None,
        transaction: AsyncConnection | None = None,
    ) -> None:
        """`sqlite_file`: the database file and whether it is a `file:` URI, to read it
        directly; None to read through `engine` (or in `transaction`, see `in_transaction`)."""
        self.engine = engine
        self._transaction = transaction
        self.dialect: Dialect = (transaction or engine).dialect  # type: ignore[union-attr]
        self._sqlite_file = sqlite_file
        self._sqlite: sqlite3.Connection | None = None

    async def all(self, statement: Prepared | Executable, params: Params) -> Sequence[Any]:
        """Every row of `statement` (a `Prepared` or any statement) as tuples."""
        if isinstance(statement, Prepared):
            if self._sqlite_file is not None:
                try:
                    return statement.fetch_sqlite(self._connection(), self.dialect, params)
                except sqlite3.OperationalError as error:
                    if not is_busy(error):
                        raise
            statement = statement.statement
        return await self._through_engine(statement, params)

    async def first(self, statement: Prepared | Executable, params: Params) -> Any | None:
        """The first row, or None (a statement meant to find one row says `limit(1)` itself)."""
        rows = await self.all(statement, params)
        return rows[0] if rows else None

    async def _through_engine(self, statement: Executable, params: Params) -> Sequence[Any]:
        if self._transaction is not None:
            return (await self._transaction.execute(statement, dict(params))).all()
        assert self.engine is not None
        # Closed directly: `async with engine.connect()` closes in a task of its own, which
        # yields with the connection still out (see `Database.reading`).
        connection = await self.engine.connect()
        try:
            return (await connection.execute(statement, dict(params))).all()
        finally:
            await connection.close()

    def _connection(self) -> sqlite3.Connection:
        if self._sqlite is None:
            assert self._sqlite_file is not None
            database, uri = self._sqlite_file
            connection = sqlite3.connect(
                database,
                check_same_thread=False,  # one loop, but a test client may run it elsewhere
                timeout=0,
                isolation_level=None,
                uri=uri,
            )
            connection.execute("PRAGMA query_only=ON")
            # Pages read from the mapped file, not copied in through read(): a list page of 20
            # rows took 31 µs instead of 43 in SQLite itself.
            connection.execute(f"PRAGMA mmap_size={MMAP_BYTES}")
            self._sqlite = connection
        return self._sqlite

    def close(self) -> None:
        if self._sqlite is not None:
            self._sqlite.close()
            self._sqlite = None


async def in_transaction(session: AsyncSession) -> Reader:
    """A `Reader` on `session`'s connection: it sees what the transaction wrote so far."""
    return Reader(None, None, await session.connection())
