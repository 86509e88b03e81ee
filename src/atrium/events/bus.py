"""The event bus: wakes listeners of a topic (`job:{id}`, `user:{id}`).

In-process by default; Redis pub/sub when ATRIUM_REDIS_URL is set, so that a worker's
progress wakes a WebSocket served by another process. Messages are hints, not the record:
what must not be lost is a row (job_event), which listeners read after waking.

    await bus.publish(topic, message)
    await bus.publish_many([(topic, message), ...])
    async for message in bus.subscribe(topic): ...
    async with bus.listen(topic) as messages: ...   # subscribed once entered

`app.state.bus` is the app's bus; the module-level `publish` and `subscribe` use the bus of
the app created last in this process (one per process outside tests).
"""

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any, Protocol

import orjson

log = logging.getLogger("atrium.events")
CHANNEL_PREFIX = "atrium:bus:"
QUEUE_SIZE = 1000


class Bus(Protocol):
    async def publish(self, topic: str, message: dict[str, Any]) -> None: ...

    async def publish_many(self, messages: list[tuple[str, dict[str, Any]]]) -> None: ...

    def subscribe(self, topic: str) -> AsyncIterator[dict[str, Any]]: ...

    def listen(
        self, topic: str
    ) -> contextlib.AbstractAsyncContextManager[AsyncIterator[dict[str, Any]]]: ...

    async def close(self) -> None: ...


class LocalBus:
    """Fan-out to the subscribers in this process; a slow subscriber drops, never blocks."""

    def __init__(self) -> None:
        self._subscribers: dict[str, set[asyncio.Queue]] = {}

    async def publish(self, topic: str, message: dict[str, Any]) -> None:
        for queue in tuple(self._subscribers.get(topic, ())):
            with contextlib.suppress(asyncio.QueueFull):
                queue.put_nowait(message)

    async def publish_many(self, messages: list[tuple[str, dict[str, Any]]]) -> None:
        for topic, message in messages:
            await self.publish(topic, message)

    @contextlib.asynccontextmanager
    async def listen(self, topic: str) -> AsyncIterator[AsyncIterator[dict[str, Any]]]:
        """Subscribed on entry: nothing published after it is missed."""
        queue: asyncio.Queue = asyncio.Queue(QUEUE_SIZE)
        self._subscribers.setdefault(topic, set()).add(queue)

        async def messages() -> AsyncIterator[dict[str, Any]]:
            while True:
                yield await queue.get()

        try:
            yield messages()
        finally:
            subscribers = self._subscribers.get(topic)
            if subscribers is not None:
                subscribers.discard(queue)
                if not subscribers:
                    del self._subscribers[topic]

    async def subscribe(self, topic: str) -> AsyncIterator[dict[str, Any]]:
        async with self.listen(topic) as messages:
            async for message in messages:
                yield message

    async def close(self) -> None:
        self._subscribers.clear()


class RedisBus:
    """Redis pub/sub: one connection per subscription, published messages as JSON."""

    def __init__(self, redis: Any) -> None:
        self.redis = redis

    async def publish(self, topic: str, message: dict[str, Any]) -> None:
        await self.redis.publish(CHANNEL_PREFIX + topic, orjson.dumps(message))

    async def publish_many(self, messages: list[tuple[str, dict[str, Any]]]) -> None:
        """One round trip for many messages (a pipeline, not a transaction)."""
        async with self.redis.pipeline(transaction=False) as pipe:
            for topic, message in messages:
                pipe.publish(CHANNEL_PREFIX + topic, orjson.dumps(message))
            await pipe.execute()

    @contextlib.asynccontextmanager
    async def listen(self, topic: str) -> AsyncIterator[AsyncIterator[dict[str, Any]]]:
        """Subscribed on entry (Redis confirmed the subscription)."""
        pubsub = self.redis.pubsub()
        await pubsub.subscribe(CHANNEL_PREFIX + topic)
        await pubsub.get_message(timeout=5.0)  # the subscribe confirmation

        async def messages() -> AsyncIterator[dict[str, Any]]:
            while True:
                item = await pubsub.get_message(ignore_subscribe_messages=True, timeout=30.0)
                if item is None or item.get("type") != "message":
                    continue
                try:
                    yield orjson.loads(item["data"])
                except orjson.JSONDecodeError:
                    log.warning("undecodable bus message on %s", topic)

        try:
            yield messages()
        finally:
            with contextlib.suppress(Exception):
                await pubsub.unsubscribe()
                await pubsub.aclose()

    async def subscribe(self, topic: str) -> AsyncIterator[dict[str, Any]]:
        async with self.listen(topic) as messages:
            async for message in messages:
                yield message

    async def close(self) -> None:
        """The Redis client belongs to the app, which closes it."""


def make_bus(redis: Any | None) -> Bus:
    return RedisBus(redis) if redis is not None else LocalBus()


_current: list[Bus] = []


def install(bus: Bus) -> None:
    """Make `bus` the one the module-level functions use (the app does this at creation)."""
    _current[:] = [bus]


def current() -> Bus:
    if not _current:
        _current.append(LocalBus())
    return _current[0]


async def publish(topic: str, message: dict[str, Any]) -> None:
    await current().publish(topic, message)


def subscribe(topic: str) -> AsyncIterator[dict[str, Any]]:
    return current().subscribe(topic)


def listen(topic: str) -> contextlib.AbstractAsyncContextManager[AsyncIterator[dict[str, Any]]]:
    return current().listen(topic)
