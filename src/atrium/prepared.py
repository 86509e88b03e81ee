"""Prebuilt statements for the hottest writes, run on SQLite without SQLAlchemy's per-statement
machinery.

On SQLite a request's INSERT costs about 15 µs in SQLite itself and about 100 µs more through
`AsyncConnection.execute` (a greenlet per call, an execution context, bind and result
processing). A `Prepared` statement is compiled once per dialect; on SQLite it is then sent
straight to the session's driver connection: its parameters go through the statement's own
bind processors (so stored values are exactly what SQLAlchemy would store), and its rows come
back as the driver returns them. The driver connection is `sqlite_tx`'s, so the write lock,
`BEGIN IMMEDIATE` and the session's commit or rollback are unchanged: it is the same
transaction as the rest of the request. On other backends the statement runs through
SQLAlchemy as usual.

A write's returned columns must need no conversion (ids, numbers, strings); a read
(`fetch_sqlite`, what `reader.Reader` runs) converts each value with its column's result
processor. No expanding (`IN` list) parameters and no column defaults computed in Python (an
INSERT gives every column its value); the others are refused when the statement is first
compiled.
"""

import sqlite3
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql import Executable

Processor = Callable[[Any], Any] | None


class Prepared:
    def __init__(self, statement: Executable) -> None:
        self.statement = statement
        self._sqlite: tuple[str, Any, tuple[tuple[str, Processor], ...]] | None = None
        self._results: tuple[tuple[int, Callable[[Any], Any]], ...] | None = None
        self._fixed: dict[str, Any] | None = None

    def _compiled(self, dialect: Dialect) -> tuple[str, Any, tuple[tuple[str, Processor], ...]]:
        if self._sqlite is None:
            compiled = self.statement.compile(dialect=dialect)
            if compiled.post_compile_params or compiled.literal_execute_params:
                raise TypeError("a prepared statement takes no expanding parameters")
            if compiled.insert_prefetch or compiled.update_prefetch:
                raise TypeError("a prepared statement gives every column its value (no defaults)")
            for column in getattr(compiled, "returning", None) or ():
                if _result_processor(column, dialect) is not None:
                    raise TypeError(f"returned column {column} needs result processing")
            order = tuple(
                (name, compiled.binds[name].type.dialect_impl(dialect).bind_processor(dialect))
                for name in compiled.positiontup or ()
            )
            self._sqlite = (str(compiled), compiled, order)
        return self._sqlite

    async def rows(self, connection: AsyncConnection, params: dict[str, Any]) -> Sequence[Any]:
        """Run in `connection`'s transaction (a session's: `await session.connection()`);
        the returned rows, if any, as plain tuples."""
        dialect = connection.dialect
        if dialect.name != "sqlite":
            result = await connection.execute(self.statement, params)
            return result.all() if result.returns_rows else []
        sql, args = self._bound(dialect, params)
        driver = (await connection.get_raw_connection()).driver_connection
        cursor = driver.cursor()
        async with cursor:
            await cursor.execute(sql, args)
            return await cursor.fetchall() if cursor.description else []

    def fetch_sqlite(
        self, connection: sqlite3.Connection, dialect: Dialect, params: Mapping[str, Any]
    ) -> Sequence[Sequence[Any]]:
        """A SELECT's rows from a sqlite3 connection, each value converted as SQLAlchemy
        converts it (rows with a converted value come back as lists)."""
        sql, args = self._bound(dialect, params)
        rows = connection.execute(sql, args).fetchall()
        converting = self._result_processors(dialect)
        if not converting:
            return rows
        converted = []
        for row in rows:
            values = list(row)
            for index, process in converting:
                values[index] = process(values[index])
            converted.append(values)
        return converted

    def _bound(self, dialect: Dialect, params: Mapping[str, Any]) -> tuple[str, tuple[Any, ...]]:
        sql, compiled, order = self._compiled(dialect)
        if self._fixed is None:  # values the statement itself holds (a literal, OFFSET 0)
            self._fixed = {
                name: bind.value
                for name, bind in compiled.binds.items()
                if bind.value is not None and not bind.required
            }
        values = {**self._fixed, **params} if self._fixed else params
        try:
            return sql, tuple(
                values[name] if process is None else process(values[name])
                for name, process in order
            )
        except KeyError as missing:
            raise TypeError(f"no value for the parameter {missing}") from None

    def _result_processors(self, dialect: Dialect) -> tuple[tuple[int, Callable[[Any], Any]], ...]:
        """The (index, processor) of each selected column that needs converting."""
        if self._results is None:
            columns = self.statement.selected_columns  # type: ignore[attr-defined]
            processors = (_result_processor(column, dialect) for column in columns)
            self._results = tuple(
                (index, process) for index, process in enumerate(processors) if process is not None
            )
        return self._results

    async def scalar(self, connection: AsyncConnection, params: dict[str, Any]) -> Any:
        """The first column of the first row, or None."""
        rows = await self.rows(connection, params)
        return rows[0][0] if rows else None


def _result_processor(column: Any, dialect: Dialect) -> Processor:
    return column.type.dialect_impl(dialect).result_processor(dialect, None)
