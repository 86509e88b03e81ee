"""Starting the servers under test, each pinned with taskset, and waiting until they answer."""

import asyncio
import os
import socket
import sys
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from bench.errors import BenchError

REPO_ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
HOST = "127.0.0.1"
UVICORN_OPTIONS = ["--workers", "1", "--loop", "uvloop", "--http", "httptools", "--no-access-log"]


@dataclass(frozen=True)
class Server:
    name: str
    url: str
    pid: int
    log_path: Path


@dataclass(frozen=True)
class Launch:
    name: str
    command: list[str]
    port: int
    ready_path: str
    workdir: Path
    env: Mapping[str, str] | None = None

    @property
    def log_path(self) -> Path:
        return self.workdir / f"{self.name}.log"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def hello_launch(workdir: Path, name: str = "hello") -> Launch:
    port = free_port()
    command = [sys.executable, "-m", "uvicorn", "bench.hello:app", "--app-dir", str(REPO_ROOT)]
    command += ["--host", HOST, "--port", str(port), *UVICORN_OPTIONS, "--log-level", "warning"]
    return Launch(name, command, port, "/", workdir)


def atrium_launch(workdir: Path, env: Mapping[str, str]) -> Launch:
    executable = VENV_BIN / "atrium"
    if not executable.exists():
        raise BenchError(
            f"{executable} is not installed: install the project first, "
            "or run only the baseline (--only hello) or a stand-in (--stand-in)"
        )
    port = free_port()
    command = [str(executable), "serve", "--host", HOST, "--port", str(port)]
    return Launch("atrium", command, port, "/ready", workdir, env)


@asynccontextmanager
async def serve(launch: Launch, cpus: str, ready_timeout_s: float) -> AsyncIterator[Server]:
    """Runs in the run's temporary directory, so that no `.env` of the checkout applies."""
    with launch.log_path.open("wb") as log:
        process = await asyncio.create_subprocess_exec(
            "taskset", "-c", cpus, *launch.command,
            cwd=launch.workdir, env=launch.env, stdout=log, stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
        try:
            url = f"http://{HOST}:{launch.port}"
            await wait_ready(launch, process, url, ready_timeout_s)
            yield Server(launch.name, url, process.pid, launch.log_path)
        finally:
            await stop(process)


async def wait_ready(
    launch: Launch, process: asyncio.subprocess.Process, url: str, timeout_s: float
) -> None:
    deadline = time.monotonic() + timeout_s
    async with httpx.AsyncClient(base_url=url, timeout=2.0) as client:
        while time.monotonic() < deadline:
            if process.returncode is not None:
                raise BenchError(
                    f"{launch.name} exited with {process.returncode}\n{log_tail(launch)}"
                )
            if await answers_ok(client, launch.ready_path):
                return
            await asyncio.sleep(0.2)
    raise BenchError(
        f"{launch.name}: GET {launch.ready_path} did not answer 200 within {timeout_s:.0f} s\n"
        f"{log_tail(launch)}"
    )


async def answers_ok(client: httpx.AsyncClient, path: str) -> bool:
    try:
        response = await client.get(path)
    except httpx.TransportError:
        return False
    return response.status_code == 200


async def stop(process: asyncio.subprocess.Process) -> None:
    if process.returncode is not None:
        return
    process.terminate()
    try:
        await asyncio.wait_for(process.wait(), timeout=10)
    except TimeoutError:
        process.kill()
        await process.wait()


def log_tail(launch: Launch, lines: int = 40) -> str:
    try:
        text = launch.log_path.read_text(errors="replace")
    except OSError:
        return "(no log)"
    tail = "\n".join(text.splitlines()[-lines:])
    return f"--- last lines of {launch.log_path.name} ---\n{tail}"


def server_env(data_dir: Path, extra: Mapping[str, str]) -> dict[str, str]:
    """The inherited environment without ATRIUM_* settings, so the database is a fresh SQLite."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ATRIUM_")}
    return {**env, "ATRIUM_DATA_DIR": str(data_dir), **extra}
