"""A real Atrium server in a subprocess (`atrium serve`), to be killed with SIGKILL and
started again on the same data directory and database."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.conftest import TEST_FERNET_KEY, TEST_JWT_SECRET
from tests.recovery.smtp import free_port

ADMIN_EMAIL = "crash-admin@example.org"
ADMIN_PASSWORD = "Crash-test-admin-pass-1"
START_TIMEOUT = 60.0


class ServerProcess:
    def __init__(self, data_dir: Path, database_url: str, **settings: str) -> None:
        self.data_dir = data_dir
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.env = {
            **os.environ,
            "ATRIUM_DATA_DIR": str(data_dir),
            "ATRIUM_DATABASE_URL": database_url,
            "ATRIUM_JWT_SECRET": TEST_JWT_SECRET,
            "ATRIUM_ENCRYPTION_KEYS": TEST_FERNET_KEY,
            "ATRIUM_ADMIN_EMAIL": ADMIN_EMAIL,
            "ATRIUM_ADMIN_PASSWORD": ADMIN_PASSWORD,
            "ATRIUM_LOG_REQUESTS": "false",
            "ATRIUM_LOG_LEVEL": "WARNING",
            **settings,
        }
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        command = [sys.executable, "-c", "from atrium.cli import main; main()"]
        self.process = subprocess.Popen(
            [*command, "serve", "--port", str(self.port)],
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"atrium serve exited: {self.process.stderr.read().decode()}")
            try:
                if httpx.get(f"{self.base}/health", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise RuntimeError("atrium serve did not answer /health in time")

    def kill(self) -> None:
        """SIGKILL: no shutdown hook, no flush, no clean-up runs."""
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)
        self.process.stderr.close()  # type: ignore[union-attr]

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.base, timeout=30)

    def admin_headers(self) -> dict[str, str]:
        with self.client() as http:
            answer = http.post(
                "/api/v1/auth/login", json={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}
            )
        answer.raise_for_status()
        return {"Authorization": f"Bearer {answer.json()['access_token']}"}


def wait_until(check, what: str, timeout: float = 30.0):
    """Poll `check()` until it returns something truthy; fails naming `what`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")
