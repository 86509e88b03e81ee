"""One transaction for many of the engine's writes (group commit).

The engine's writes - claims, progress, checkpoints, outcomes, lease renewals - are small and
come from many jobs at once. Each is queued here as an operation; one task runs every
operation queued so far in one transaction, commits once, answers each caller, then announces
the batch's events on the bus. A caller returns only after the commit that holds its write, as
if it had had a transaction of its own; while one batch commits, the next one fills, so an idle
engine writes at once and a busy one writes many jobs per commit.

The batches run on one connection the batcher keeps (the engine's writer): a pool checkout and
an ORM session per write cost more than the write. Operations are plain functions of a
synchronous connection, and a whole batch runs in one `run_sync` call: one hand-over to the
driver per statement instead of an async round through SQLAlchemy's adapter for each. Operations
that share a `group` key (outcomes with the same columns) run as one statement for all of them.
An operation never raises for an expected outcome (a lost lease is a result, not an error). If a
batch fails (a database error), the connection is dropped and each of its operations runs again
alone, so that one broken write fails only its own caller.
"""

import asyncio
import contextlib
import logging
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from sqlalchemy import Connection
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from atrium.jobs import statements as sql
from atrium.jobs.outbox import Published, publish

log = logging.getLogger("atrium.jobs")
T = TypeVar("T")
MAX_BATCH = 256


@dataclass(slots=True)
class Batch:
    """What the operations of one transaction add to it: event rows, written together before
    the commit, and the events to announce after it."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    published: list[Published] = field(default_factory=list)

    def add(self, event: Published, created_at: Any) -> None:
        self.rows.append(
            {
                "job_id": event.job_id,
                "seq": event.seq,
                "type": event.type,
                "data": event.data,
                "created_at": created_at,
            }
        )
        self.published.append(event)


Operation = Callable[[Connection, Batch], Any]


class Grouped(Protocol):
    """An operation that can run in one statement with the others of its `group` in a batch."""

    group: Hashable

    def __call__(self, connection: Connection, batch: Batch) -> Any: ...

    def run_group(
        self, connection: Connection, batch: Batch, members: Sequence["Grouped"]
    ) -> list[Any]:
        """The result of each of `members` (this operation among them), in their order."""
        ...


class WriteBatcher:
    def __init__(self, engine: AsyncEngine, bus: Any) -> None:
        self.engine = engine
        self.bus = bus
        self._queue: list[tuple[Operation, asyncio.Future]] = []
        self._drainer: asyncio.Task | None = None
        self._connection: AsyncConnection | None = None

    async def run(self, operation: Operation) -> Any:
        """Run `operation(connection, batch)` in the next transaction; its result once
        committed."""
        future = asyncio.get_running_loop().create_future()
        self._queue.append((operation, future))
        if self._drainer is None or self._drainer.done():
            self._drainer = asyncio.create_task(self._drain(), name="jobs-writes")
        return await future

    async def close(self) -> None:
        """Wait for the writes already queued, then give the connection back (shutdown)."""
        if self._drainer is not None:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._drainer
        await self._drop_connection()

    async def _drain(self) -> None:
        while self._queue:
            items, self._queue = self._queue[:MAX_BATCH], self._queue[MAX_BATCH:]
            try:
                published = await self._run_batch(items)
            except asyncio.CancelledError:
                _fail(items, asyncio.CancelledError())
                _fail(self._queue, asyncio.CancelledError())
                self._queue = []
                raise
            await publish(self.bus, published)

    async def _run_batch(self, items: list[tuple[Operation, asyncio.Future]]) -> list[Published]:
        try:
            results, batch = await self._transaction([operation for operation, _ in items])
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            if len(items) == 1:
                _fail(items, exc)
                return []
            log.warning("a batch of %d job writes failed; retrying each alone", len(items))
            published = []
            for item in items:
                published += await self._run_batch([item])
            return published
        for (_operation, future), result in zip(items, results, strict=True):
            if not future.done():
                future.set_result(result)
        return batch.published

    async def _transaction(self, operations: list[Operation]) -> tuple[list[Any], Batch]:
        if self._connection is None:
            self._connection = await self.engine.connect()
        try:
            return await self._connection.run_sync(_run_all, operations)
        except BaseException:
            await asyncio.shield(self._drop_connection())
            raise

    async def _drop_connection(self) -> None:
        """Roll back and close the writer's connection; the next batch opens a fresh one."""
        connection, self._connection = self._connection, None
        if connection is None:
            return
        try:
            await connection.rollback()
            await connection.close()
        except Exception:
            log.warning("closing the job writer's connection failed", exc_info=True)
            with contextlib.suppress(Exception):
                await connection.invalidate()


def _run_all(connection: Connection, operations: list[Operation]) -> tuple[list[Any], Batch]:
    """One transaction: every operation (groups as one statement each), the event rows, the
    commit."""
    batch = Batch()
    if connection.dialect.name == "sqlite":
        # the write lock before the first read: a claim reads its candidates, a stop reads the
        # request it obeys, and what they read must hold until the commit
        connection.exec_driver_sql("BEGIN IMMEDIATE")
    groups: dict[Hashable, list[int]] = {}
    for index, operation in enumerate(operations):
        group = getattr(operation, "group", None)
        if group is not None:
            groups.setdefault(group, []).append(index)
    results: list[Any] = [None] * len(operations)
    for index, operation in enumerate(operations):
        group = getattr(operation, "group", None)
        members = groups.pop(group, None) if group is not None else [index]
        if members is None:  # ran with its group
            continue
        if len(members) == 1:
            results[index] = operation(connection, batch)
            continue
        grouped: Grouped = operation  # type: ignore[assignment]
        found = grouped.run_group(connection, batch, [operations[i] for i in members])  # type: ignore[misc]
        for member, result in zip(members, found, strict=True):
            results[member] = result
    if batch.rows:
        connection.execute(sql.insert_events(), batch.rows)
    connection.commit()
    return results, batch


def _fail(items: list[tuple[Operation, asyncio.Future]], exc: BaseException) -> None:
    for _operation, future in items:
        if not future.done():
            if isinstance(exc, asyncio.CancelledError):
                future.cancel()
            else:
                future.set_exception(exc)
