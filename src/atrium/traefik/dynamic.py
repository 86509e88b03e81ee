"""The file provider's dynamic configuration: read, and one service's entry replaced atomically
(a temporary file renamed over the old one, under a lock shared by every process)."""

import contextlib
import fcntl
import os
import tempfile
from pathlib import Path
from typing import Any

import yaml


def read(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text()
    except FileNotFoundError:
        return {}
    return yaml.safe_load(text) or {}


def service_entry(config: dict[str, Any], name: str) -> dict[str, Any] | None:
    return ((config.get("http") or {}).get("services") or {}).get(name)


@contextlib.contextmanager
def _locked(path: Path):
    with open(path.with_name(path.name + ".lock"), "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _write_atomically(path: Path, config: dict[str, Any]) -> None:
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as handle:
            yaml.safe_dump(config, handle, sort_keys=False)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise


def rewrite_service(
    path: Path, name: str, servers: list[dict[str, Any]] | None
) -> dict[str, Any] | None:
    """Replace `name`'s servers (or keep them: re-apply the stored entry) and write the file;
    returns the entry written, or None when the file has no such service."""
    with _locked(path):
        config = read(path)
        entry = service_entry(config, name)
        if entry is None:
            return None
        balancer = entry.setdefault("loadBalancer", {})
        if servers is not None:
            balancer["servers"] = servers
        _write_atomically(path, config)
        return entry
