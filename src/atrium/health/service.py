"""Liveness and readiness: is the process up, and can it serve (database, schema at head)."""

import os
from dataclasses import dataclass

from sqlalchemy import text

from atrium.db import Database
from atrium.migrate import head_revision


@dataclass(frozen=True, slots=True)
class Readiness:
    ready: bool
    cause: str | None = None


def _sqlite_path(url: str) -> str | None:
    prefix = "sqlite+aiosqlite:///"
    return url.removeprefix(prefix) if url.startswith(prefix) and ":memory:" not in url else None


class ReadinessProbe:
    """Watches the SQLite file itself: a pooled connection keeps a deleted file readable."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.path = _sqlite_path(db.url)
        self.inode = self._inode()

    def _inode(self) -> int | None:
        if self.path is None:
            return None
        try:
            return os.stat(self.path).st_ino
        except FileNotFoundError:
            return None

    async def check(self) -> Readiness:
        if self.path is not None:
            inode = self._inode()
            if inode is None:
                return Readiness(False, f"database file {self.path} is missing")
            if inode != self.inode:
                await self.db.engine.dispose()
                self.inode = inode
        try:
            async with self.db.engine.connect() as connection:
                version = await connection.scalar(text("SELECT version_num FROM alembic_version"))
        except Exception as exc:
            return Readiness(False, f"database unavailable: {type(exc).__name__}: {exc}"[:300])
        head = head_revision()
        if version != head:
            return Readiness(
                False, f"database schema at {version}, expected {head}; run atrium migrate"
            )
        return Readiness(True)
