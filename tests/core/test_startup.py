"""Start-up: generated secrets, first administrator, the CLI, readiness across a database outage."""

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from atrium.app import create_app
from atrium.config import Settings
from atrium.migrate import upgrade
from atrium.security.secrets import MissingSecret, load_secrets
from tests import services

ATRIUM = str(Path(sys.executable).with_name("atrium"))


def _sqlite_settings(tmp_path: Path, **values: object) -> Settings:
    return Settings(_env_file=None, data_dir=tmp_path, log_requests=False, **values)  # type: ignore[arg-type]


def test_secrets_generated_once_with_mode_0600(tmp_path: Path) -> None:
    first = load_secrets(_sqlite_settings(tmp_path))
    second = load_secrets(_sqlite_settings(tmp_path))
    assert first.jwt_key == second.jwt_key
    for name in ("jwt.key", "fernet.key"):
        mode = stat.S_IMODE(os.stat(tmp_path / name).st_mode)
        assert mode == 0o600, f"{name} has mode {oct(mode)}"
    token = first.fernet.encrypt(b"secret")
    assert second.fernet.decrypt(token) == b"secret"


def test_secrets_required_with_postgres(tmp_path: Path) -> None:
    settings = _sqlite_settings(tmp_path, database_url="postgresql+asyncpg://x@127.0.0.1/db")
    with pytest.raises(MissingSecret, match="ATRIUM_JWT_SECRET"):
        load_secrets(settings)


def test_encryption_key_rotation_keeps_old_ciphertexts_readable(tmp_path: Path) -> None:
    from cryptography.fernet import Fernet

    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    before = load_secrets(_sqlite_settings(tmp_path, jwt_secret="k" * 40, encryption_keys=old))
    after = load_secrets(
        _sqlite_settings(tmp_path, jwt_secret="k" * 40, encryption_keys=f"{new},{old}")
    )
    assert after.fernet.decrypt(before.fernet.encrypt(b"provider-key")) == b"provider-key"


def test_first_admin_from_settings_is_created_once(tmp_path: Path) -> None:
    upgrade(f"sqlite+aiosqlite:///{tmp_path / 'atrium.db'}")
    settings = _sqlite_settings(
        tmp_path, admin_email="Root@Example.com", admin_password="correct-horse-battery"
    )
    for _ in range(2):  # the second start finds an admin and creates nothing
        with TestClient(create_app(settings)) as client:
            response = client.post(
                "/api/v1/auth/login",
                json={"email": "root@example.com", "password": "correct-horse-battery"},
            )
            assert response.status_code == 200, response.text
            assert response.json()["user"]["role"] == "admin"


def test_cli_creates_an_admin_who_can_log_in(tmp_path: Path) -> None:
    env = {**os.environ, "ATRIUM_DATA_DIR": str(tmp_path)}
    env.pop("ATRIUM_DATABASE_URL", None)
    result = subprocess.run(
        [
            ATRIUM,
            "users",
            "create",
            "--admin",
            "--email",
            "ops@example.com",
            "--username",
            "ops",
            "--password-stdin",
        ],
        input="a-long-unusual-password\n",
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    with TestClient(create_app(_sqlite_settings(tmp_path))) as client:
        response = client.post(
            "/api/v1/auth/login", json={"username": "ops", "password": "a-long-unusual-password"}
        )
        assert response.status_code == 200, response.text
        assert response.json()["user"]["role"] == "admin"


def test_cli_refuses_a_weak_password(tmp_path: Path) -> None:
    env = {**os.environ, "ATRIUM_DATA_DIR": str(tmp_path)}
    result = subprocess.run(
        [
            ATRIUM,
            "users",
            "create",
            "--email",
            "a@example.com",
            "--username",
            "abc",
            "--password-stdin",
        ],
        input="short\n",
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert result.returncode != 0
    assert "at least" in result.stderr


def test_ready_follows_a_postgres_outage_without_restart(tmp_path: Path) -> None:
    if not services._pg_binary("initdb"):
        services.unavailable("PostgreSQL binaries")
    cluster = services.ThrowawayPostgres()
    try:
        url = cluster.url.replace("postgresql://", "postgresql+asyncpg://")
        upgrade(url)
        settings = _sqlite_settings(
            tmp_path,
            database_url=url,
            jwt_secret="k" * 40,
            encryption_keys="aNWvxx8ROlGIUdSAJQ1sxP9yeVSxdrZK5X7ynC1JzYY=",
        )
        with TestClient(create_app(settings)) as client:
            assert client.get("/ready").status_code == 200
            cluster.stop()
            down = client.get("/ready")
            assert down.status_code == 503
            assert "database unavailable" in down.json()["detail"]
            cluster.start()
            assert client.get("/ready").status_code == 200
    finally:
        cluster.stop()
