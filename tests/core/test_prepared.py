"""`atrium.prepared`: a prebuilt statement sent straight to the SQLite driver stores exactly what
SQLAlchemy would (bind processors applied: UTC datetimes, JSON, booleans), runs in the session's
transaction (rolled back with it, committed with it, under the write lock), and refuses
statements it cannot run faithfully. On PostgreSQL it runs through SQLAlchemy."""

import asyncio
from datetime import UTC, datetime

import pytest
from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Integer,
    MetaData,
    String,
    Table,
    bindparam,
    insert,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession

from atrium.db import Database, UTCDateTime, commit
from atrium.prepared import Prepared
from tests.conftest import BACKEND

pytestmark = pytest.mark.skipif(BACKEND != "sqlite", reason="the driver path is SQLite's")

metadata = MetaData()
thing = Table(
    "thing",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(50)),
    Column("flag", Boolean),
    Column("meta", JSON),
    Column("at", UTCDateTime),
    Column("hits", Integer, default=0),
)
COLUMNS = ("name", "flag", "meta", "at", "hits")
INSERT = insert(thing).values({name: bindparam(name, type_=thing.c[name].type) for name in COLUMNS})
PREPARED_INSERT = Prepared(INSERT.returning(thing.c.id))
BUMP = Prepared(
    update(thing)
    .where(thing.c.id == bindparam("ident"))
    .values(hits=thing.c.hits + 1)
    .returning(thing.c.hits, thing.c.name)
)
DRIVERS = [pytest.param(False, id="inline"), pytest.param(True, id="aiosqlite")]


async def open_database(tmp_path, stock: bool) -> Database:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'p.db'}", stock_sqlite=stock)
    async with db.engine.begin() as connection:
        await connection.run_sync(metadata.create_all)
    return db


def values(name: str) -> dict:
    return {
        "name": name,
        "flag": True,
        "meta": {"k": [1, "two"]},
        "at": datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC),
        "hits": 0,
    }


async def raw_rows(session: AsyncSession) -> list[tuple]:
    connection = await session.connection()
    driver = (await connection.get_raw_connection()).driver_connection
    cursor = driver.cursor()
    async with cursor:
        await cursor.execute("SELECT name, flag, meta, at, hits FROM thing ORDER BY id")
        return [tuple(row) for row in await cursor.fetchall()]


@pytest.mark.parametrize("stock", DRIVERS)
def test_stores_what_sqlalchemy_stores_and_returns_plain_rows(tmp_path, stock):
    async def scenario() -> None:
        db = await open_database(tmp_path, stock)
        try:
            async with db.sessions() as session:
                connection = await session.connection()
                await connection.execute(INSERT, values("core"))
                ident = await PREPARED_INSERT.scalar(connection, values("prepared"))
                await commit(session)
            async with db.sessions() as session:
                core, prepared = await raw_rows(session)
                assert prepared == ("prepared", *core[1:])
                assert core[3].startswith("2026-01-02 03:04:05.678901")
                loaded = (await session.execute(select(thing).where(thing.c.id == ident))).one()
                assert loaded.meta == {"k": [1, "two"]} and loaded.flag is True
                assert loaded.at == datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
                bumped = await BUMP.rows(await session.connection(), {"ident": ident})
                assert [tuple(row) for row in bumped] == [(1, "prepared")]
                assert await BUMP.rows(await session.connection(), {"ident": 10**6}) == []
                await commit(session)
        finally:
            await db.dispose()

    asyncio.run(scenario())


@pytest.mark.parametrize("stock", DRIVERS)
def test_runs_in_the_session_transaction_under_the_write_lock(tmp_path, stock):
    async def scenario() -> None:
        db = await open_database(tmp_path, stock)
        try:
            async with db.sessions() as session:
                await PREPARED_INSERT.scalar(await session.connection(), values("undone"))
                await session.rollback()
            async with db.sessions() as session:
                assert await raw_rows(session) == []

            async def writer(n: int) -> None:
                async with db.sessions() as session:
                    connection = await session.connection()
                    await PREPARED_INSERT.scalar(connection, values(f"w{n}"))
                    await asyncio.sleep(0.01)  # another writer would interleave here
                    await BUMP.rows(connection, {"ident": 1})
                    await commit(session)

            await asyncio.gather(*(writer(n) for n in range(8)))
            async with db.sessions() as session:
                rows = await raw_rows(session)
            assert sorted(row[0] for row in rows) == [f"w{n}" for n in range(8)]
            assert rows[0][4] == 8  # every bump counted: the writers queued on the lock
        finally:
            await db.dispose()

    asyncio.run(scenario())


def test_refuses_what_it_cannot_run_faithfully(tmp_path):
    async def scenario() -> None:
        db = await open_database(tmp_path, False)
        expanding = Prepared(select(thing.c.id).where(thing.c.name.in_(["a", "b"])))
        converted = Prepared(INSERT.returning(thing.c.at))
        defaulted = Prepared(insert(thing).values(name=bindparam("name")))
        try:
            async with db.sessions() as session:
                connection = await session.connection()
                with pytest.raises(TypeError, match="expanding"):
                    await expanding.rows(connection, {})
                with pytest.raises(TypeError, match="result processing"):
                    await converted.rows(connection, values("x"))
                with pytest.raises(TypeError, match="no defaults"):
                    await defaulted.rows(connection, {"name": "x"})
        finally:
            await db.dispose()

    asyncio.run(scenario())


READ = Prepared(select(thing.c.id, *(thing.c[name] for name in COLUMNS)).order_by(thing.c.id))
READ_ONE = Prepared(select(thing.c.name, thing.c.at).where(thing.c.name == bindparam("name")))


@pytest.mark.parametrize("stock", DRIVERS)
def test_reader_returns_what_sqlalchemy_returns_and_sees_each_commit(tmp_path, stock):
    async def scenario() -> None:
        db = await open_database(tmp_path, stock)
        try:
            assert await db.reader.all(READ, {}) == []
            async with db.sessions() as session:
                connection = await session.connection()
                await connection.execute(INSERT, values("first"))
                moment = {**values("second"), "at": datetime(2026, 5, 6, 7, 8, 9, tzinfo=UTC)}
                await connection.execute(INSERT, {**moment, "meta": None, "flag": False})
                assert await db.reader.all(READ, {}) == []  # not committed yet
                await commit(session)
            direct = [tuple(row) for row in await db.reader.all(READ, {})]
            async with db.engine.connect() as connection:
                through_sqlalchemy = [
                    tuple(row) for row in await connection.execute(READ.statement)
                ]
            assert direct == through_sqlalchemy
            assert direct[0][4] == datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
            assert direct[1][4].tzinfo is UTC and direct[1][3] is None and direct[1][2] is False
            found = await db.reader.first(READ_ONE, {"name": "second"})
            assert tuple(found) == ("second", datetime(2026, 5, 6, 7, 8, 9, tzinfo=UTC))
            assert await db.reader.first(READ_ONE, {"name": "nobody"}) is None
            if not stock:  # the direct path names a missing value as SQLAlchemy would refuse it
                with pytest.raises(TypeError, match="no value for the parameter"):
                    await db.reader.all(READ_ONE, {})
        finally:
            await db.dispose()

    asyncio.run(scenario())
