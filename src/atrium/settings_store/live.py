"""Settings applied live in every process: after a change commits, this process reloads and
(with Redis) publishes the new version; other processes reload on the message, and before a
CORS decision they compare the shared version (one Redis GET). Without Redis, a process
polls the version row every few seconds."""

import asyncio
import contextlib
import hashlib
import logging
import time
from collections.abc import Callable
from typing import Any

from pydantic import SecretStr

from atrium.settings_store.service import (
    FROM_ENVIRONMENT,
    SECRET_KEYS,
    effective,
    environment_values,
    version,
)

log = logging.getLogger("atrium.settings")
POLL_SECONDS = 2.0
Listener = Callable[[dict[str, Any], dict[str, Any]], None]


class LiveSettings:
    def __init__(self, state: Any) -> None:
        self.state = state
        self.env = environment_values(state.settings)
        self.values: dict[str, Any] = dict(self.env)
        self.version = -1
        self.checked = 0.0
        self.listeners: list[Listener] = []
        self.task: asyncio.Task | None = None
        # processes share settings when they share a database: name the keys after it
        space = hashlib.sha256(state.db.url.encode()).hexdigest()[:16]
        self.channel = f"atrium:{space}:settings"
        self.version_key = f"atrium:{space}:settings:version"

    def on_change(self, listener: Listener) -> None:
        """`listener(old_values, new_values)` after every reload."""
        self.listeners.append(listener)

    async def load(self) -> None:
        async with self.state.db.sessions() as session:
            values = await effective(session, self.state.settings, self.env)
            current = await version(session)
        self._apply(values)
        self.version = current

    def _decrypted(self, token: str | None) -> str | None:
        if not token:
            return None
        try:
            return self.state.secrets.fernet.decrypt(token.encode()).decode()
        except Exception:
            log.warning("a stored secret setting cannot be decrypted with the current keys")
            return None

    def _apply(self, values: dict[str, Any]) -> None:
        old, self.values = self.values, values
        settings = self.state.settings
        fields = type(settings).model_fields
        for key in FROM_ENVIRONMENT:
            if key not in fields:
                continue
            value = values[key]
            if key in SECRET_KEYS and value != self.env.get(key):
                value = self._decrypted(value)
            if isinstance(getattr(settings, key), SecretStr) or "Secret" in str(
                fields[key].annotation
            ):
                value = SecretStr(value) if value is not None else None
            setattr(settings, key, value)
        for listener in self.listeners:
            try:
                listener(old, values)
            except Exception:
                log.exception("a settings listener failed")

    async def sync(self) -> None:
        """Catch up with a change made by another process; cheap when nothing changed."""
        redis = self.state.redis
        if redis is not None:
            shared = await redis.get(self.version_key)
            if shared is not None and int(shared) != self.version:
                await self.load()
            return
        now = time.monotonic()
        if now - self.checked < POLL_SECONDS:
            return
        self.checked = now
        async with self.state.db.sessions() as session:
            current = await version(session)
        if current != self.version:
            await self.load()

    async def committed(self) -> None:
        """After this process's change committed: apply it here and tell the others."""
        await self.load()
        redis = self.state.redis
        if redis is not None:
            await redis.set(self.version_key, self.version)
            await redis.publish(self.channel, str(self.version))

    async def _listen(self) -> None:
        pubsub = self.state.redis.pubsub()
        await pubsub.subscribe(self.channel)
        try:
            async for message in pubsub.listen():
                if message.get("type") == "message":
                    await self.sync()
        finally:
            with contextlib.suppress(Exception):
                await pubsub.aclose()

    async def run(self) -> None:
        while True:
            try:
                if self.state.redis is not None:
                    await self._listen()
                else:
                    await asyncio.sleep(POLL_SECONDS)
                    await self.sync()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("settings watcher failed; retrying")
                await asyncio.sleep(POLL_SECONDS)

    def start(self) -> None:
        if self.task is None:
            self.task = asyncio.get_running_loop().create_task(self.run())

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task
            self.task = None
