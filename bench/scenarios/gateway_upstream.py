"""The test upstream for the gateway scenarios: a minimal OpenAI-compatible ASGI server.

It answers as fast as it can (precomputed bytes), so that the difference between a call
through Atrium and the same call sent straight to it is the gateway's own cost. It runs in
its own process, pinned to the CPUs of the server under test, for both measurements.
"""

import json
import os
import sys
import tempfile
from pathlib import Path

from bench.context import BenchContext, ensure_success
from bench.errors import Skip
from bench.servers import UVICORN_OPTIONS, Launch, free_port, serve

REPO_ROOT = str(Path(__file__).resolve().parents[2])
MODEL = "bench-model"
PROVIDER = "bench-upstream"
COMPLETION = json.dumps(
    {
        "id": "chatcmpl-bench",
        "object": "chat.completion",
        "created": 1700000000,
        "model": MODEL,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "Hello from the bench upstream."},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 12, "completion_tokens": 6, "total_tokens": 18},
    }
).encode()


def _chunk(delta: dict, finish: str | None = None, usage: dict | None = None) -> bytes:
    body = {
        "id": "chatcmpl-bench",
        "object": "chat.completion.chunk",
        "created": 1700000000,
        "model": MODEL,
        "choices": [] if usage else [{"index": 0, "delta": delta, "finish_reason": finish}],
    }
    if usage:
        body["usage"] = usage
    return b"data: " + json.dumps(body).encode() + b"\n\n"


STREAM = [
    _chunk({"role": "assistant", "content": ""}),
    *(_chunk({"content": word}) for word in ("Hello", " from", " the", " bench", " upstream.")),
    _chunk({}, "stop"),
]
USAGE = _chunk({}, usage={"prompt_tokens": 12, "completion_tokens": 5, "total_tokens": 17})
DONE = b"data: [DONE]\n\n"
MODELS = json.dumps({"object": "list", "data": [{"id": MODEL, "object": "model"}]}).encode()


async def _read_body(receive) -> bytes:
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            return body


async def _send_json(send, payload: bytes) -> None:
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(payload)).encode()),
    ]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": payload})


async def app(scope, receive, send) -> None:
    if scope["type"] != "http":
        return
    path = scope["path"]
    if path.endswith("/models") or path == "/":
        await _send_json(send, MODELS)
        return
    body = json.loads(await _read_body(receive) or b"{}")
    if not body.get("stream"):
        await _send_json(send, COMPLETION)
        return
    headers = [(b"content-type", b"text/event-stream"), (b"cache-control", b"no-cache")]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    for piece in STREAM:
        await send({"type": "http.response.body", "body": piece, "more_body": True})
    if (body.get("stream_options") or {}).get("include_usage"):
        await send({"type": "http.response.body", "body": USAGE, "more_body": True})
    await send({"type": "http.response.body", "body": DONE})


def _cpus_of(pid: int | None) -> str:
    if pid is None:
        return "0"
    return ",".join(str(cpu) for cpu in sorted(os.sched_getaffinity(pid)))


async def upstream_for(ctx: BenchContext) -> tuple[str, dict[str, str]]:
    """Start the upstream once per run and register it as a global provider; returns the
    upstream's base URL and the headers of an API key that calls Atrium."""
    cached = getattr(ctx, "_gateway_upstream", None)
    if cached is not None:
        return cached
    admin = ctx.require_admin()
    workdir = Path(tempfile.gettempdir())
    port = free_port()
    command = [sys.executable, "-m", "uvicorn", "bench.scenarios.gateway_upstream:app",
               "--app-dir", REPO_ROOT,
               "--host", "127.0.0.1", "--port", str(port), *UVICORN_OPTIONS,
               "--log-level", "warning"]  # fmt: skip
    launch = Launch("gateway-upstream", command, port, "/v1/models", workdir)
    server = await ctx.stack.enter_async_context(serve(launch, _cpus_of(ctx.server_pid), 30))
    response = await ctx.client.post(
        "/api/v1/llm/providers",
        json={"name": PROVIDER, "type": "custom", "api_base": f"{server.url}/v1",
              "models": [MODEL]},
        headers=admin.headers,
    )  # fmt: skip
    if response.status_code == 404:
        raise Skip("this Atrium has no LLM gateway")
    ensure_success(response, "registering the bench upstream as a provider")
    headers = {"Authorization": f"Bearer {await ctx.api_key()}"}
    ctx._gateway_upstream = (server.url, headers)  # type: ignore[attr-defined]
    return server.url, headers


def chat_body(stream: bool) -> dict:
    return {
        "model": MODEL,
        "messages": [{"role": "user", "content": "Say hello."}],
        "stream": stream,
    }
