"""The data directory is private to the service: the directory and every folder Atrium makes in
it 0700, every file it writes there 0600 (database, generated keys, uploads, temporaries)."""

import os
from pathlib import Path

from sqlalchemy.engine import make_url

from atrium.config import Settings

DIR_MODE = 0o700
FILE_MODE = 0o600
SQLITE_COMPANIONS = ("", "-wal", "-shm", "-journal")


def private_dir(path: Path) -> Path:
    """Create `path` and its missing parents as 0700 (`mkdir(parents=True)` would give the
    parents the umask's mode); tighten `path` if it already exists."""
    missing = [path, *(parent for parent in path.parents if not parent.exists())]
    for folder in reversed(missing):
        folder.mkdir(mode=DIR_MODE, exist_ok=True)
    os.chmod(path, DIR_MODE)
    return path


def create_private(path: Path, *, exclusive: bool = True) -> int:
    """Open a new file for writing, created 0600 whatever the process umask."""
    flags = os.O_WRONLY | os.O_CREAT | (os.O_EXCL if exclusive else os.O_TRUNC)
    return os.open(path, flags, FILE_MODE)


def sqlite_path(database_url: str) -> Path | None:
    url = make_url(database_url)
    if not url.drivername.startswith("sqlite") or url.database in (None, "", ":memory:"):
        return None
    return Path(url.database)


def secure(settings: Settings) -> None:
    """Make the data directory private, and the SQLite database before SQLite creates it:
    SQLite gives its WAL and shared-memory files the database file's mode."""
    private_dir(settings.data_dir)
    database = sqlite_path(settings.resolved_database_url)
    if database is None:
        return
    if not database.exists():
        if not database.parent.exists():
            private_dir(database.parent)
        os.close(os.open(database, os.O_WRONLY | os.O_CREAT, FILE_MODE))
    for suffix in SQLITE_COMPANIONS:
        companion = database.with_name(database.name + suffix)
        if companion.exists():
            os.chmod(companion, FILE_MODE)
