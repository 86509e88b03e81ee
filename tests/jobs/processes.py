"""Real processes for the job tests: Celery workers and API servers sharing the test database."""

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from atrium.config import Settings
from atrium.jobs.child import settings_to_json

ROOT = Path(__file__).resolve().parents[2]
ATRIUM = str(Path(sys.executable).parent / "atrium")
READY_SECONDS = 60.0


def env_of(settings: Settings, **overrides: object) -> dict[str, str]:
    """The settings as ATRIUM_* variables, for a process that must share them."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("ATRIUM_")}
    values = {**settings_to_json(settings), **overrides}
    for name, value in values.items():
        if value is None:
            continue
        if isinstance(value, list):
            value = ",".join(map(str, value))
        env[f"ATRIUM_{name.upper()}"] = str(value)
    env["ATRIUM_DATABASE_URL"] = settings.resolved_database_url
    env["PYTHONPATH"] = f"{ROOT}{os.pathsep}{env.get('PYTHONPATH', '')}"
    return env


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Process:
    def __init__(self, args: list[str], env: dict[str, str], log: Path) -> None:
        self.log = log
        self._handle = open(log, "ab")  # noqa: SIM115 - closed in stop()
        self.popen = subprocess.Popen(
            args, env=env, cwd=ROOT, stdout=self._handle, stderr=subprocess.STDOUT
        )

    def kill(self) -> None:
        """SIGKILL: no shutdown hook runs, leases stay as they were."""
        self.popen.send_signal(signal.SIGKILL)
        self.popen.wait(10)

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(15)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(5)
        self._handle.close()

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]


def _started(process: Process, ready: Callable[[], bool], what: str) -> Process:
    """Wait until `ready()`; a process that exits or is not ready in time is stopped (killed
    if it will not terminate) before the failure is raised, so none outlives its test."""
    deadline = time.monotonic() + READY_SECONDS
    try:
        while not ready():
            assert process.popen.poll() is None, f"{what} exited:\n{process.tail()}"
            assert time.monotonic() < deadline, f"{what} not ready:\n{process.tail()}"
            time.sleep(0.1)
    except BaseException:
        process.stop()
        raise
    return process


def start_worker(settings: Settings, log: Path, **overrides: object) -> Process:
    env = env_of(settings, jobs_executor="celery", **overrides)
    process = Process([ATRIUM, "worker", "--concurrency", "8"], env, log)
    return _started(process, lambda: b"ready." in log.read_bytes(), "worker")


def start_server(settings: Settings, log: Path, **overrides: object) -> tuple[Process, str]:
    port = free_port()
    env = env_of(settings, **overrides)
    process = Process([ATRIUM, "serve", "--port", str(port)], env, log)
    base = f"http://127.0.0.1:{port}"

    def healthy() -> bool:
        try:
            return httpx.get(f"{base}/health", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    return _started(process, healthy, "server"), base
