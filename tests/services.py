"""Real PostgreSQL and Redis for the suite: the running servers, or throwaway ones we start."""

import asyncio
import atexit
import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time

import pytest

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def unavailable(what: str) -> None:
    """Skip loudly on a developer's machine; fail in CI, where every leg must run."""
    message = f"{what} is not available: the tests that need it cannot run"
    if IN_CI:
        pytest.fail(message, pytrace=False)
    print(f"\n*** SKIPPING: {message} ***\n")
    pytest.skip(message)


async def _can_connect(url: str) -> bool:
    import asyncpg

    try:
        connection = await asyncpg.connect(url, timeout=3)
    except Exception:
        return False
    await connection.close()
    return True


def _pg_binary(name: str) -> str | None:
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)
    return candidates[0] if candidates else shutil.which(name)


class ThrowawayPostgres:
    """A PostgreSQL cluster of our own from the local binaries, which a test may stop and start."""

    def __init__(self) -> None:
        initdb, self.pg_ctl = _pg_binary("initdb"), _pg_binary("pg_ctl")
        if not (initdb and self.pg_ctl):
            raise FileNotFoundError("PostgreSQL binaries (initdb, pg_ctl) not found")
        self.root = tempfile.mkdtemp(prefix="atrium-pg-")
        self.as_postgres: list[str] = []
        if os.geteuid() == 0:  # initdb refuses to run as root
            shutil.chown(self.root, "postgres")
            self.as_postgres = ["runuser", "-u", "postgres", "--"]
        self.data, self.port = os.path.join(self.root, "data"), _free_port()
        self._run(initdb, "-D", self.data, "-A", "trust", "-U", "postgres")
        self.start()
        atexit.register(self.stop)

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *command: str) -> None:
        subprocess.run([*self.as_postgres, *command], check=True, capture_output=True)

    def start(self) -> None:
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off"
        log = os.path.join(self.root, "log")
        self._run(self.pg_ctl, "-D", self.data, "-o", options, "-w", "-l", log, "start")

    def stop(self) -> None:
        subprocess.run(
            [*self.as_postgres, self.pg_ctl, "-D", self.data, "-m", "immediate", "-w", "stop"],
            capture_output=True,
        )


def _start_throwaway_postgres() -> str | None:
    try:
        return ThrowawayPostgres().url
    except (FileNotFoundError, subprocess.CalledProcessError):
        return None


_pg_server: list[str] = []


def postgres_server() -> str | None:
    """A libpq URL of a PostgreSQL server the tests may create databases on."""
    if _pg_server:
        return _pg_server[0]
    url = os.environ.get("ATRIUM_TEST_DATABASE_URL", "").replace("+asyncpg", "")
    if not url:
        local = "postgresql://postgres@127.0.0.1:5432/postgres"
        url = local if asyncio.run(_can_connect(local)) else _start_throwaway_postgres() or ""
    if url:
        _pg_server.append(url)
    return url or None


async def _execute(url: str, *statements: str) -> None:
    import asyncpg

    connection = await asyncpg.connect(url)
    try:
        for statement in statements:
            await connection.execute(statement)
    finally:
        await connection.close()


def create_database(server: str, name: str, template: str | None = None) -> str:
    clause = f" TEMPLATE {template}" if template else ""
    asyncio.run(
        _execute(server, f"DROP DATABASE IF EXISTS {name}", f"CREATE DATABASE {name}{clause}")
    )
    base = server.rsplit("/", 1)[0]
    return f"{base.replace('postgresql://', 'postgresql+asyncpg://')}/{name}"


def drop_database(server: str, name: str) -> None:
    asyncio.run(_execute(server, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))


_redis: list[str] = []


def redis_server() -> str | None:
    if _redis:
        return _redis[0]
    url = os.environ.get("ATRIUM_TEST_REDIS_URL")
    if not url and _port_open(6379):
        url = "redis://127.0.0.1:6379/0"
    if not url and shutil.which("redis-server"):
        port = _free_port()
        process = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            stdout=subprocess.DEVNULL,
        )
        atexit.register(process.terminate)
        for _ in range(50):
            if _port_open(port):
                break
            time.sleep(0.1)
        url = f"redis://127.0.0.1:{port}/0"
    if url:
        _redis.append(url)
    return url
