"""How transactions run on SQLite: one model for both drivers (`sqlite_inline` and aiosqlite).

SQLite has one writer at a time. A transaction that reads first and writes later begins
deferred: if another connection commits in between, its snapshot is stale and SQLite refuses
the write at once (no busy wait can help), so read-then-write work must take the write lock
before its first read. Here:

- The driver never begins transactions implicitly (`isolation_level=None`); this layer does.
- A write transaction begins `IMMEDIATE`, after the engine's in-process `WriteLock`: writers in
  one process queue on an asyncio lock (no thread blocked, no sleep-and-retry) and each keeps
  its own transaction. Another process's writer is waited for by SQLite's busy timeout.
- Which transactions write is decided up front, or at the first write:
  * `BEGIN IMMEDIATE` sent by the caller (`db.begin_write(session)`, `WriteSessionDep`) takes
    the lock before anything is read: read-modify-write work is serialisable.
  * Otherwise the first statement that writes (DML, DDL, or a SAVEPOINT outside a transaction)
    takes the lock and begins IMMEDIATE; the reads before it ran each in their own snapshot
    (autocommit), so the write never meets a stale snapshot, and a request that reads, waits
    on a model for seconds and then writes holds the lock only for its writes.
- The lock is released when the transaction ends (commit, rollback, close).
"""

import asyncio
import sqlite3
from typing import Any, Protocol

WRITES = frozenset(("INSERT", "UPDATE", "DELETE", "REPLACE", "CREATE", "DROP", "ALTER"))


class WriteLock:
    """The writer slot of one engine: one write transaction at a time in this process."""

    def __init__(self, timeout_s: float) -> None:
        self.timeout_s = timeout_s
        self._lock = asyncio.Lock()
        self._holder: asyncio.Task | None = None
        self._waiting = 0  # tasks queued in acquire

    async def acquire(self) -> None:
        task = asyncio.current_task()
        if task is not None and task is self._holder:
            raise sqlite3.OperationalError(
                "database is locked: this task already holds the write transaction on another "
                "connection, and waiting for it would never end"
            )
        if not self._lock.locked() and not self._waiting:
            # free and nobody queued: asyncio's lock is taken at once, so no deadline is
            # armed (arming and cancelling one costs more than the rest of this call)
            await self._lock.acquire()
        else:
            self._waiting += 1
            try:
                async with asyncio.timeout(self.timeout_s):
                    await self._lock.acquire()
            except TimeoutError:
                raise sqlite3.OperationalError(
                    f"database is locked: no write slot within {self.timeout_s:g} s"
                ) from None
            finally:
                self._waiting -= 1
        self._holder = task

    def release(self) -> None:
        self._holder = None
        self._lock.release()

    @property
    def locked(self) -> bool:
        return self._lock.locked()


def first_word(sql: str) -> str:
    return sql.lstrip()[:9].split(None, 1)[0].upper() if sql.strip() else ""


class AsyncSQLiteConnection(Protocol):
    """What this layer needs of a driver connection (aiosqlite's interface)."""

    _conn: sqlite3.Connection
    _connection: sqlite3.Connection | None

    @property
    def in_transaction(self) -> bool: ...

    async def cursor(self) -> Any: ...

    async def execute(self, sql: str, parameters: Any = ...) -> Any: ...

    async def commit(self) -> None: ...

    async def rollback(self) -> None: ...

    async def close(self) -> None: ...


class Connection:
    """A driver connection (aiosqlite-shaped, as SQLAlchemy's aiosqlite dialect drives it)
    that begins transactions by the model above."""

    def __init__(self, inner: AsyncSQLiteConnection, lock: WriteLock) -> None:
        self._inner = inner
        self._lock = lock
        self._writing = False  # this connection holds the engine's write slot

    # -- the attributes SQLAlchemy's adapter reads ---------------------------------------
    @property
    def _connection(self) -> sqlite3.Connection | None:
        return self._inner._connection

    @property
    def _conn(self) -> sqlite3.Connection:
        return self._inner._conn

    @property
    def _tx(self) -> Any:
        return self._inner._tx

    @property
    def isolation_level(self) -> str | None:
        return None  # transactions are begun here, never by the driver

    @isolation_level.setter
    def isolation_level(self, _value: str | None) -> None:
        pass

    @property
    def in_transaction(self) -> bool:
        return self._inner.in_transaction

    def cursor(self) -> "Cursor":
        return Cursor(self)

    async def create_function(self, *args: Any, **kwargs: Any) -> None:
        await self._inner.create_function(*args, **kwargs)

    # -- the model ---------------------------------------------------------------------
    async def _take_write_slot(self) -> None:
        if not self._writing:
            await self._lock.acquire()
            self._writing = True

    def _settle(self) -> None:
        """Give the write slot back once the transaction is over (however it ended)."""
        if self._writing and not self._inner.in_transaction:
            self._writing = False
            self._lock.release()

    async def prepare(self, sql: str) -> None:
        """Take the write slot and begin the write transaction when `sql` needs them."""
        word = first_word(sql)
        if word == "BEGIN":
            upper = sql.upper()
            if "IMMEDIATE" in upper or "EXCLUSIVE" in upper:
                await self._take_write_slot()
            return
        in_transaction = self._inner.in_transaction
        if word in WRITES or (word == "SAVEPOINT" and not in_transaction):
            await self._take_write_slot()
            if not in_transaction:
                await self._begin_immediate()

    async def _begin_immediate(self) -> None:
        try:
            await self._inner.execute("BEGIN IMMEDIATE")
        except BaseException:
            self._settle()
            raise

    async def commit(self) -> None:
        try:
            await self._inner.commit()
        finally:
            self._settle()

    async def rollback(self) -> None:
        try:
            await self._inner.rollback()
        finally:
            self._settle()

    async def close(self) -> None:
        try:
            await self._inner.close()
        finally:
            self._drop_write_slot()

    def stop(self) -> None:
        try:
            self._inner.stop()
        finally:
            self._drop_write_slot()

    def _drop_write_slot(self) -> None:
        if self._writing:
            self._writing = False
            self._lock.release()


class Cursor:
    """A driver cursor whose statements go through the connection's model first."""

    def __init__(self, connection: Connection) -> None:
        self._connection = connection
        self._cursor: Any = None

    async def __aenter__(self) -> "Cursor":
        self._cursor = await self._connection._inner.cursor()
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self._cursor.close()

    async def execute(self, sql: str, parameters: Any = ()) -> "Cursor":
        connection = self._connection
        await connection.prepare(sql)
        try:
            await self._cursor.execute(sql, parameters)
        finally:
            if connection._writing:
                connection._settle()
        return self

    async def executemany(self, sql: str, parameters: Any) -> "Cursor":
        connection = self._connection
        await connection.prepare(sql)
        try:
            await self._cursor.executemany(sql, parameters)
        finally:
            if connection._writing:
                connection._settle()
        return self

    async def fetchone(self) -> Any:
        return await self._cursor.fetchone()

    async def fetchmany(self, size: int | None = None) -> Any:
        if size is None:
            return await self._cursor.fetchmany()
        return await self._cursor.fetchmany(size)

    async def fetchall(self) -> Any:
        return await self._cursor.fetchall()

    async def close(self) -> None:
        await self._cursor.close()

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
