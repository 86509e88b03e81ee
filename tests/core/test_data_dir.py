"""The data directory is 0700 and every file Atrium writes there 0600: the SQLite database with
its WAL, the generated keys, uploads and their temporaries (proved by stat)."""

import os
import stat
from pathlib import Path

from fastapi.testclient import TestClient

from atrium.app import create_app
from atrium.cli import _prepare
from atrium.config import Settings


def _modes(root: Path) -> dict[str, int]:
    found = {".": stat.S_IMODE(root.stat().st_mode)}
    for path in root.rglob("*"):
        found[str(path.relative_to(root))] = stat.S_IMODE(path.stat().st_mode)
    return found


def test_data_directory_and_everything_in_it_is_private(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir(mode=0o755)
    os.chmod(data_dir, 0o755)  # made by someone else, world-readable
    settings = Settings(_env_file=None, data_dir=data_dir, log_requests=False)  # type: ignore[call-arg]
    previous = os.umask(0o022)
    try:
        _prepare(settings)  # what `atrium serve` does first: keys, migrations
        os.umask(0o022)  # the app must not rely on the CLI's umask
        with TestClient(create_app(settings)) as client:
            registered = client.post(
                "/api/v1/auth/register",
                json={"email": "p@example.com", "username": "perm", "password": "Correct-Horse-9"},
            )
            assert registered.status_code == 201, registered.text
            token = registered.json()["tokens"]["accessToken"]
            uploaded = client.post(
                "/api/v1/upload",
                files={"file": ("secret.txt", b"private bytes\n" * 1000, "text/plain")},
                headers={"Authorization": f"Bearer {token}"},
            )
            assert uploaded.status_code == 201, uploaded.text
            modes = _modes(data_dir)
            files = {name: mode for name, mode in modes.items() if (data_dir / name).is_file()}
    finally:
        os.umask(previous)
    folders = {name: mode for name, mode in modes.items() if name not in files}
    assert {"atrium.db", "jwt.key", "fernet.key"} <= set(files)
    assert any(name.startswith("files/") and ".tmp" not in name for name in files)
    assert "files/.tmp" in folders
    assert {name: mode for name, mode in files.items() if mode != 0o600} == {}
    assert {name: mode for name, mode in folders.items() if mode != 0o700} == {}
