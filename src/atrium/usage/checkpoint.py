"""The usage record of a stream in progress, written while it streams.

Completed calls are metered through the batch writer; a stream that lasts longer than one
interval also writes its record itself, at most once per interval, with the tokens streamed
so far and the status of an interrupted call. A crash mid-stream then leaves a record that
meters what was sent; the end of the stream overwrites it with the final figures. The daily
roll-up takes the difference on every write, so it always equals the sum of the records.
"""

import logging
import time
from typing import Any

from sqlalchemy import insert, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from atrium.usage.tables import UsageRecord
from atrium.usage.writer import ROLLUP_SUMS, rollup_rows, upsert_rollups

log = logging.getLogger("atrium.usage.writer")
INTERRUPTED = "interrupted: the stream had not finished when this record was written"


class StreamCheckpoint:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], every_seconds: float) -> None:
        self.sessions = sessions
        self.every_seconds = every_seconds
        self.last_write = time.monotonic()
        self.record_id: int | None = None
        self.rollup: dict[str, Any] | None = None

    @property
    def written(self) -> bool:
        return self.record_id is not None

    def due(self) -> bool:
        return time.monotonic() - self.last_write >= self.every_seconds

    async def write(self, record: dict[str, Any]) -> None:
        """Insert or overwrite the record and move the roll-up by the difference."""
        (row,) = rollup_rows([record])
        change = dict(row)
        if self.rollup is not None:
            for name in ROLLUP_SUMS:
                change[name] = row[name] - self.rollup[name]
        table = UsageRecord.__table__
        async with self.sessions() as session:
            if self.record_id is None:
                inserted = await session.execute(
                    insert(table).values(**record).returning(table.c.id)
                )
                record_id = inserted.scalar_one()
            else:
                record_id = self.record_id
                await session.execute(update(table).where(table.c.id == record_id).values(**record))
            await upsert_rollups(session, [change])
            await session.commit()
        self.record_id, self.rollup = record_id, row
        self.last_write = time.monotonic()

    async def settle(self, record: dict[str, Any]) -> bool:
        """Write `record` here if this stream's record lives here (an interim record, or any
        record once one was written); False: the caller queues it for the batch writer."""
        interim = record["error"] == INTERRUPTED
        if not (interim or self.written):
            return False
        try:
            await self.write(record)
        except Exception:
            # a failed write must not break the stream the client is reading
            log.warning("could not write a streaming call's usage record", exc_info=True)
        return True
