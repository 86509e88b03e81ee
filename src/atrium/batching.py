"""Records queued on the request path and written in batches by a background task.

The request side only appends to a deque (no await, no I/O). Every `every_seconds` the task
writes what was queued, oldest first, in batches of at most `max_batch`; a batch whose write
raises goes back to the front of the queue, in its order, for the next attempt. `stop()` ends
the task without interrupting a write in progress, then writes what is left, so a clean
shutdown loses nothing.
"""

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class BatchWriter(Generic[T]):
    def __init__(
        self,
        write: Callable[[list[T]], Awaitable[None]],
        *,
        every_seconds: float,
        max_batch: int,
        log: logging.Logger,
    ) -> None:
        self.write = write
        self.every_seconds = every_seconds
        self.max_batch = max_batch
        self.log = log
        self.queue: deque[T] = deque()
        self.add = self.queue.append  # what the request path calls
        self.lock = asyncio.Lock()
        self.task: asyncio.Task | None = None
        self.written = 0
        self.failures = 0
        self._stopping: asyncio.Event | None = None

    @property
    def depth(self) -> int:
        return len(self.queue)

    async def flush(self) -> int:
        """Write what was queued when the call began (later records wait for the next
        flush, so a busy server cannot keep one flush going); returns the records written."""
        total = 0
        async with self.lock:
            remaining = len(self.queue)
            while remaining and self.queue:
                count = min(remaining, self.max_batch, len(self.queue))
                popleft = self.queue.popleft
                batch = [popleft() for _ in range(count)]
                try:
                    await self.write(batch)
                except Exception:
                    self.failures += 1
                    self.queue.extendleft(reversed(batch))
                    raise
                remaining -= count
                total += count
                self.written += count
                await asyncio.sleep(0)  # let waiting requests run between batches
        return total

    async def run(self) -> None:
        stopping = self._stopping
        assert stopping is not None
        while not stopping.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), self.every_seconds)
            try:
                await self.flush()
            except Exception:
                self.log.exception("could not write a batch; it is kept for the next attempt")

    def start(self) -> None:
        if self.task is None:
            self._stopping = asyncio.Event()
            self.task = asyncio.get_running_loop().create_task(self.run())

    async def stop(self) -> None:
        """Let the task finish its current write and end, then write everything left."""
        if self.task is not None and self._stopping is not None:
            self._stopping.set()
            await self.task
            self.task = None
        await self.flush()
