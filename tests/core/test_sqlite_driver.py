"""SQLite's transaction model (`sqlite_tx`) on both drivers, and the inline driver's failure
modes: another process holding the write lock (waited for off the loop, or refused after the
busy timeout), a task that would wait for itself, a failed or cancelled writer (its slot is
given back), and read-modify-write transactions that neither lose an update nor fail."""

import asyncio
import inspect
import sqlite3
import threading
from pathlib import Path

import pytest
import sqlalchemy
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import AsyncSession

from atrium.db import Database, begin_write
from tests.conftest import BACKEND

pytestmark = pytest.mark.skipif(BACKEND != "sqlite", reason="SQLite's own transaction model")

DRIVERS = [pytest.param(False, id="inline"), pytest.param(True, id="aiosqlite")]


async def open_database(path: Path, stock: bool, busy_timeout_s: float = 5.0) -> Database:
    db = Database(f"sqlite+aiosqlite:///{path}", stock_sqlite=stock, busy_timeout_s=busy_timeout_s)
    async with db.engine.begin() as connection:
        await connection.execute(text("CREATE TABLE counter (id INTEGER PRIMARY KEY, n INTEGER)"))
        await connection.execute(text("INSERT INTO counter VALUES (1, 0)"))
    return db


async def read_counter(session: AsyncSession) -> int:
    return (await session.execute(text("SELECT n FROM counter WHERE id = 1"))).scalar_one()


async def increment(db: Database, *, pause: float = 0.01) -> None:
    """Read, wait (other requests run), write what was read plus one: a lost update unless the
    transaction holds the write lock from its read on."""
    async with db.sessions() as session:
        await begin_write(session)
        value = await read_counter(session)
        await asyncio.sleep(pause)
        await session.execute(text("UPDATE counter SET n = :n WHERE id = 1"), {"n": value + 1})
        await session.commit()


class OtherProcessWriter:
    """A plain sqlite3 connection on another thread holding the write lock, as another
    process's writer would."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.holding = threading.Event()
        self.release = threading.Event()
        self.thread = threading.Thread(target=self._hold, daemon=True)

    def _hold(self) -> None:
        connection = sqlite3.connect(self.path, isolation_level=None)
        connection.execute("BEGIN IMMEDIATE")
        connection.execute("UPDATE counter SET n = n + 100 WHERE id = 1")
        self.holding.set()
        self.release.wait(30)
        connection.execute("COMMIT")
        connection.close()

    def __enter__(self) -> "OtherProcessWriter":
        self.thread.start()
        assert self.holding.wait(10)
        return self

    def __exit__(self, *_exc: object) -> None:
        self.release.set()
        self.thread.join(10)


def test_sqlalchemy_adapter_contract():
    """`sqlite_tx.Connection` stands in for an aiosqlite connection inside SQLAlchemy's
    aiosqlite adapter, which reads attributes that are not public API. pyproject pins
    SQLAlchemy's minor version; before raising the pin, check the adapter still uses only
    these and update `sqlite_tx.Connection` if not."""
    from sqlalchemy.connectors import asyncio as connectors
    from sqlalchemy.dialects.sqlite import aiosqlite as dialect

    assert sqlalchemy.__version__.startswith("2.1."), (
        f"SQLAlchemy {sqlalchemy.__version__}: re-check the aiosqlite adapter contract"
    )
    adapter = inspect.getsource(dialect.AsyncAdapt_aiosqlite_connection)
    for used in ("self._connection._conn", "self._connection._tx", "self._connection._connection"):
        assert used in adapter, f"the adapter no longer reads {used}: revisit sqlite_tx"
    assert "meth = self._connection.stop" in adapter
    cursor = inspect.getsource(connectors.AsyncAdapt_dbapi_cursor)
    for used in ("connection.cursor()", "cursor.__aenter__()", "self._cursor.execute("):
        assert used in cursor, f"the adapter's cursor no longer calls {used}: revisit sqlite_tx"


@pytest.mark.parametrize("stock", DRIVERS)
def test_engine_round_trip_through_every_adapter_path(tmp_path, stock):
    async def scenario() -> None:
        db = await open_database(tmp_path / "a.db", stock)
        try:
            async with db.sessions() as session:  # commit
                await session.execute(text("UPDATE counter SET n = 5"))
                await session.commit()
            async with db.sessions() as session:  # rollback
                await session.execute(text("UPDATE counter SET n = 6"))
                await session.rollback()
                assert await read_counter(session) == 5
            isolated = db.engine.execution_options(isolation_level="SERIALIZABLE")
            async with isolated.connect() as connection:  # the adapter's isolation-level path
                assert (await connection.execute(text("SELECT n FROM counter"))).scalar() == 5
            async with db.engine.connect() as connection:  # terminate (stop) on a lost task
                await connection.invalidate()
        finally:
            await db.dispose()

    asyncio.run(scenario())


@pytest.mark.parametrize("stock", DRIVERS)
def test_concurrent_read_modify_writes_neither_lose_an_update_nor_fail(tmp_path, stock):
    async def scenario() -> int:
        db = await open_database(tmp_path / "a.db", stock)
        try:
            await asyncio.gather(*(increment(db) for _ in range(8)))
            async with db.sessions() as session:
                return await read_counter(session)
        finally:
            await db.dispose()

    assert asyncio.run(scenario()) == 8


@pytest.mark.parametrize("stock", DRIVERS)
def test_a_write_waits_for_another_process_without_blocking_the_loop(tmp_path, stock):
    async def scenario() -> tuple[int, int]:
        db = await open_database(tmp_path / "a.db", stock)
        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            while True:
                await asyncio.sleep(0.01)
                ticks += 1

        try:
            with OtherProcessWriter(tmp_path / "a.db") as other:
                ticking = asyncio.create_task(ticker())
                writing = asyncio.create_task(increment(db, pause=0))
                await asyncio.sleep(0.3)
                assert not writing.done()  # waiting for the other writer's lock
                other.release.set()
                await writing
                ticking.cancel()
            async with db.sessions() as session:
                return await read_counter(session), ticks
        finally:
            await db.dispose()

    value, ticks = asyncio.run(scenario())
    assert value == 101  # the other writer's +100, then ours on top of it
    assert ticks >= 5  # the loop kept running while the write waited


@pytest.mark.parametrize("stock", DRIVERS)
def test_a_lock_held_past_the_busy_timeout_is_refused_and_the_slot_given_back(tmp_path, stock):
    async def scenario() -> int:
        db = await open_database(tmp_path / "a.db", stock, busy_timeout_s=0.2)
        try:
            with OtherProcessWriter(tmp_path / "a.db"), pytest.raises(OperationalError):
                await increment(db, pause=0)
            await increment(db, pause=0)  # the write slot was released
            async with db.sessions() as session:
                return await read_counter(session)
        finally:
            await db.dispose()

    assert asyncio.run(scenario()) == 101


@pytest.mark.parametrize("stock", DRIVERS)
def test_a_task_that_would_wait_for_its_own_write_is_refused_at_once(tmp_path, stock):
    async def scenario() -> None:
        db = await open_database(tmp_path / "a.db", stock)
        try:
            async with db.sessions() as first, db.sessions() as second:
                await first.execute(text("UPDATE counter SET n = 1"))
                with pytest.raises(OperationalError, match="already holds the write"):
                    await second.execute(text("UPDATE counter SET n = 2"))
        finally:
            await db.dispose()

    asyncio.run(scenario())


@pytest.mark.parametrize("stock", DRIVERS)
def test_failed_and_cancelled_writers_give_the_slot_back(tmp_path, stock):
    async def scenario() -> int:
        db = await open_database(tmp_path / "a.db", stock)
        try:
            async with db.sessions() as session:
                with pytest.raises(IntegrityError):
                    await session.execute(text("INSERT INTO counter VALUES (1, 9)"))
                await session.rollback()

            held = asyncio.Event()

            async def stuck_writer() -> None:
                async with db.sessions() as session:
                    await session.execute(text("UPDATE counter SET n = 50"))
                    held.set()
                    await asyncio.sleep(60)

            task = asyncio.create_task(stuck_writer())
            await held.wait()
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            await asyncio.wait_for(increment(db, pause=0), timeout=5)
            async with db.sessions() as session:
                return await read_counter(session)
        finally:
            await db.dispose()

    assert asyncio.run(scenario()) == 1  # the cancelled write was rolled back


def test_long_reads_run_on_read_only_connections_off_the_loop(tmp_path):
    async def scenario() -> None:
        db = await open_database(tmp_path / "a.db", stock=False)
        try:
            assert type(db.long_read_engine.dialect.dbapi).__module__.endswith("aiosqlite")
            async with db.long_reads() as session:
                assert await read_counter(session) == 0
                with pytest.raises(OperationalError, match="readonly"):
                    await session.execute(text("UPDATE counter SET n = 1"))
        finally:
            await db.dispose()

    asyncio.run(scenario())
