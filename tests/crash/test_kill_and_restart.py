"""SIGKILL a real server mid-upload and mid-stream, start it again on the same data: no
temporary is left, the database is clean, and a partial reply and its usage survive."""

import contextlib
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.crash.server import ServerProcess, wait_until
from tests.gateway.upstreams import OpenAIUpstream, serve_app

CHUNK = b"\0" * (256 * 1024)
UPLOAD_BYTES = 500 * 1024 * 1024
BOUNDARY = "atrium-crash-test"
WORDS = 400


@pytest.fixture
def server(tmp_path: Path, database_template: Callable[[], str]) -> Iterator[ServerProcess]:
    process = ServerProcess(
        tmp_path / "data", database_template(), ATRIUM_USAGE_FLUSH_SECONDS="0.2"
    )
    process.start()
    try:
        yield process
    finally:
        process.stop()


@pytest.fixture
def upstream() -> Iterator[tuple[OpenAIUpstream, str]]:
    fake = OpenAIUpstream()
    fake.reply_text = " ".join(f"word{n}" for n in range(WORDS))
    fake.drip(0.05)  # a 20-second reply: killed long before it ends
    with serve_app(fake.app) as base:
        yield fake, base


def multipart_body() -> Iterator[bytes]:
    yield (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="big.bin"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode()
    for _ in range(UPLOAD_BYTES // len(CHUNK)):
        yield CHUNK
    yield f"\r\n--{BOUNDARY}--\r\n".encode()


def in_background(work: Callable[[], object]) -> threading.Thread:
    def guarded() -> None:
        with contextlib.suppress(httpx.HTTPError):  # the server is killed under it
            work()

    thread = threading.Thread(target=guarded, daemon=True)
    thread.start()
    return thread


def temporaries(server: ServerProcess) -> list[Path]:
    tmp = server.data_dir / "files" / ".tmp"
    return [path for path in tmp.iterdir() if path.is_file()] if tmp.exists() else []


def test_upload_killed_midway_leaves_nothing_after_restart(server):
    headers = server.admin_headers()

    def upload() -> None:
        with server.client() as http:
            http.post(
                "/api/v1/upload",
                content=multipart_body(),
                headers={**headers, "Content-Type": f"multipart/form-data; boundary={BOUNDARY}"},
            )

    thread = in_background(upload)
    big = lambda: [p for p in temporaries(server) if p.stat().st_size >= 8 * 1024 * 1024]  # noqa: E731
    wait_until(big, "a temporary of 8 MiB")
    server.kill()
    thread.join(timeout=30)
    assert temporaries(server), "the killed upload left its temporary behind"

    server.start()
    assert temporaries(server) == []
    with server.client() as http:
        assert http.get("/api/v1/files", headers=headers).json() == []
    stored = [p for p in (server.data_dir / "files").rglob("*") if p.is_file()]
    assert stored == []


def start_provider(server: ServerProcess, headers: dict[str, str], base: str) -> None:
    body = {
        "name": "slow",
        "type": "openai",
        "api_base": f"{base}/v1",
        "api_key": "test-key",
        "models": ["gpt-4o"],
    }
    with server.client() as http:
        assert http.post("/api/v1/llm/providers", json=body, headers=headers).status_code == 201


def usage_overview(server: ServerProcess, headers: dict[str, str]) -> dict:
    with server.client() as http:
        return http.get("/api/v1/llm/usage/overview", headers=headers).json()


def test_workspace_stream_killed_midway_keeps_partial_reply_and_usage(server, upstream):
    fake, base = upstream
    headers = server.admin_headers()
    start_provider(server, headers, base)
    with server.client() as http:
        conversation = http.post("/api/v1/conversations", json={}, headers=headers).json()
    path = f"/api/v1/conversations/{conversation['id']}"

    def chat() -> None:
        with server.client() as http:
            body = {"content": "Count for me", "stream": True, "model": "gpt-4o"}
            with http.stream("POST", f"{path}/messages", json=body, headers=headers) as answer:
                for _line in answer.iter_lines():
                    pass

    def partial_reply() -> dict | None:
        with server.client() as http:
            messages = http.get(path, headers=headers).json()["messages"]
        replies = [m for m in messages if m["role"] == "assistant" and m["content"]]
        return replies[0] if replies else None

    thread = in_background(chat)
    wait_until(partial_reply, "the partial reply to be stored while streaming")
    wait_until(lambda: usage_overview(server, headers)["total_calls"], "the interim usage")
    server.kill()
    thread.join(timeout=30)

    server.start()
    reply = partial_reply()
    assert reply is not None and reply["incomplete"] is True
    assert fake.reply_text.startswith(reply["content"])
    assert len(reply["content"]) < len(fake.reply_text)
    usage = usage_overview(server, headers)
    assert usage["total_calls"] == 1 and usage["output_tokens"] > 0
    assert usage["error_rate"] == 1.0  # recorded as cut short


def test_v1_stream_killed_midway_is_metered(server, upstream):
    _fake, base = upstream
    headers = server.admin_headers()
    start_provider(server, headers, base)
    seen: list[str] = []

    def chat() -> None:
        with server.client() as http:
            body = {
                "model": "gpt-4o",
                "stream": True,
                "messages": [{"role": "user", "content": "x"}],
            }
            with http.stream("POST", "/v1/chat/completions", json=body, headers=headers) as answer:
                for line in answer.iter_lines():
                    seen.append(line)

    thread = in_background(chat)
    wait_until(lambda: usage_overview(server, headers)["output_tokens"], "the interim usage")
    server.kill()
    thread.join(timeout=30)
    assert seen and "data: [DONE]" not in seen

    server.start()
    usage = usage_overview(server, headers)
    assert usage["total_calls"] == 1
    assert usage["input_tokens"] > 0 and usage["output_tokens"] > 0
