"""Fake LLM providers for tests: small ASGI apps speaking each provider's documented wire format.

Each fake records the requests it receives (`.requests`, `.last`) and has knobs: `fail_with`
(an error in the provider's own shape), `slow` (delay before answering), `omit_usage`,
`reply_with_tool_call`, `redirect_to`, `drip` (a pause between stream pieces), `break_after`
(a stream cut after n pieces), and `hold_after_first_chunk` (a stream pauses after its
first piece of text until the test releases it, proving that chunks are relayed as they come).
`serve_app(app)` runs any ASGI app on a free loopback port in a background thread.
"""

import asyncio
import json
import re
import socket
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response, StreamingResponse
from starlette.routing import Route

PROMPT_TOKENS = 11
GATE_TIMEOUT = 5.0


@contextmanager
def serve_app(app: Any) -> Iterator[str]:
    """Serve an ASGI app on 127.0.0.1 at a free port; yields its base URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", lifespan="off", timeout_graceful_shutdown=1)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the fake upstream server did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=5)
        sock.close()


@dataclass
class RecordedRequest:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # lower-case names
    json: Any


def sse_event(data: Any, event: str | None = None) -> str:
    text = data if isinstance(data, str) else json.dumps(data)
    lines = [f"event: {event}"] if event else []
    lines += [f"data: {line}" for line in text.split("\n")]
    return "\n".join(lines) + "\n\n"


class FakeUpstream:
    """What every fake provider shares: recording, knobs, auth and the reply it gives."""

    default_models: tuple[str, ...] = ()

    def __init__(self, *, api_key: str | None = "test-key") -> None:
        self.initial_api_key = api_key
        self.app = Starlette(routes=self.routes())
        self.reset()

    def reset(self) -> None:
        self.api_key = self.initial_api_key
        self.requests: list[RecordedRequest] = []
        self.models = list(self.default_models)
        # extra fields of a model's entry in the model list (vLLM's max_model_len, ...)
        self.model_fields: dict[str, dict[str, Any]] = {}
        self.reply_text = "Hello there, friend!"
        self.failure: tuple[int, str] | None = None
        self.delay = 0.0
        self.include_usage = True
        self.tool_call: tuple[str, dict[str, Any]] | None = None
        self.redirect: str | None = None
        self.gate: threading.Event | None = None
        self.gate_timed_out = False
        self.page_size = 1000
        self.piece_delay = 0.0
        self.broken_after: int | None = None

    # --- knobs ------------------------------------------------------------------------

    def fail_with(self, status: int, message: str) -> None:
        self.failure = (status, message)

    def slow(self, seconds: float) -> None:
        self.delay = seconds

    def omit_usage(self) -> None:
        self.include_usage = False

    def reply_with_tool_call(self, name: str, arguments: dict[str, Any]) -> None:
        self.tool_call = (name, arguments)

    def redirect_to(self, location: str) -> None:
        self.redirect = location

    def drip(self, seconds: float) -> None:
        """Pause this long between the pieces of a stream."""
        self.piece_delay = seconds

    def break_after(self, pieces: int) -> None:
        """Cut the connection after this many pieces of a stream (no clean end)."""
        self.broken_after = pieces

    def hold_after_first_chunk(self) -> threading.Event:
        self.gate = threading.Event()
        return self.gate

    # --- what the fake knows --------------------------------------------------------

    @property
    def last(self) -> RecordedRequest:
        return self.requests[-1]

    @property
    def pieces(self) -> list[str]:
        """The reply text as the chunks a stream sends."""
        return re.findall(r"\s*\S+", self.reply_text) or [""]

    @property
    def completion_tokens(self) -> int:
        return len(self.pieces)

    def routes(self) -> list[Route]:
        raise NotImplementedError

    def error_response(self, status: int, message: str) -> Response:
        raise NotImplementedError

    def authorized(self, request: Request) -> bool:
        return self.api_key is None or (
            request.headers.get("authorization") == f"Bearer {self.api_key}"
        )

    def unauthorized(self) -> Response:
        return self.error_response(401, "invalid api key")

    async def begin(self, request: Request) -> tuple[RecordedRequest, Response | None]:
        """Record the request, apply the knobs; a response here ends the exchange."""
        raw = await request.body()
        recorded = RecordedRequest(
            method=request.method,
            path=request.url.path,
            query=dict(request.query_params),
            headers={k.lower(): v for k, v in request.headers.items()},
            json=json.loads(raw) if raw else None,
        )
        self.requests.append(recorded)
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.redirect:
            return recorded, RedirectResponse(self.redirect, status_code=307)
        if self.failure:
            return recorded, self.error_response(*self.failure)
        if not self.authorized(request):
            return recorded, self.unauthorized()
        return recorded, None

    async def pause_at_gate(self) -> None:
        if self.gate is not None:
            released = await asyncio.to_thread(self.gate.wait, GATE_TIMEOUT)
            self.gate_timed_out = not released

    async def stream_pieces(self) -> AsyncIterator[tuple[int, str]]:
        for index, piece in enumerate(self.pieces):
            if index == self.broken_after:
                raise ConnectionAbortedError("the fake provider broke its stream on purpose")
            yield index, piece
            if index == 0:
                await self.pause_at_gate()
            if self.piece_delay:
                await asyncio.sleep(self.piece_delay)

    @staticmethod
    def sse(events: AsyncIterator[str]) -> StreamingResponse:
        return StreamingResponse(events, media_type="text/event-stream")

    def page(self, items: list[Any], start: int, limit: int | None) -> tuple[list[Any], int | None]:
        size = min(limit or self.page_size, self.page_size)
        chunk = items[start : start + size]
        following = start + size
        return chunk, following if following < len(items) else None


def fake_vector(text: str) -> list[float]:
    return [float(len(text)), 0.5, -1.0]


# --- OpenAI chat completions (also Together, vLLM, custom) ---------------------------


class OpenAIUpstream(FakeUpstream):
    """POST /v1/chat/completions, GET /v1/models, POST /v1/embeddings."""

    default_models = ("gpt-4o", "gpt-4o-mini", "text-embedding-3-small")

    def __init__(self, *, api_key: str | None = "test-key", bare_model_list: bool = False) -> None:
        self.bare_model_list = bare_model_list  # Together answers a bare JSON array
        super().__init__(api_key=api_key)

    def routes(self) -> list[Route]:
        return [
            Route("/v1/chat/completions", self.chat, methods=["POST"]),
            Route("/v1/models", self.list_models, methods=["GET"]),
            Route("/v1/embeddings", self.embeddings, methods=["POST"]),
        ]

    def error_response(self, status: int, message: str) -> Response:
        kind = "invalid_request_error" if status < 500 else "server_error"
        error = {"message": message, "type": kind, "param": None, "code": None}
        return JSONResponse({"error": error}, status_code=status)

    def usage(self) -> dict[str, int]:
        return {
            "prompt_tokens": PROMPT_TOKENS,
            "completion_tokens": self.completion_tokens,
            "total_tokens": PROMPT_TOKENS + self.completion_tokens,
        }

    def message(self) -> dict[str, Any]:
        if self.tool_call:
            name, arguments = self.tool_call
            call = {
                "id": "call_abc123",
                "type": "function",
                "function": {"name": name, "arguments": json.dumps(arguments)},
            }
            return {"role": "assistant", "content": None, "tool_calls": [call]}
        return {"role": "assistant", "content": self.reply_text}

    async def chat(self, request: Request) -> Response:
        recorded, early = await self.begin(request)
        if early:
            return early
        body = recorded.json or {}
        if not body.get("model") or not isinstance(body.get("messages"), list):
            return self.error_response(400, "you must provide a model and messages")
        if body.get("stream"):
            return self.sse(self._chunks(body))
        finish = "tool_calls" if self.tool_call else "stop"
        reply = {
            "id": "chatcmpl-fake1",
            "object": "chat.completion",
            "created": 1700000000,
            "model": body["model"],
            "choices": [{"index": 0, "message": self.message(), "finish_reason": finish}],
            "system_fingerprint": "fp_fake",
        }
        if self.include_usage:
            reply["usage"] = self.usage()
        return JSONResponse(reply)

    async def _chunks(self, body: dict[str, Any]) -> AsyncIterator[str]:
        def chunk(delta: dict[str, Any], finish: str | None = None) -> str:
            choice = {"index": 0, "delta": delta, "finish_reason": finish}
            return sse_event(
                {
                    "id": "chatcmpl-fake1",
                    "object": "chat.completion.chunk",
                    "created": 1700000000,
                    "model": body["model"],
                    "choices": [choice],
                }
            )

        yield chunk({"role": "assistant", "content": ""})
        async for _index, piece in self.stream_pieces():
            yield chunk({"content": piece})
        yield chunk({}, "stop")
        wants_usage = (body.get("stream_options") or {}).get("include_usage")
        if wants_usage and self.include_usage:
            yield sse_event(
                {
                    "id": "chatcmpl-fake1",
                    "object": "chat.completion.chunk",
                    "created": 1700000000,
                    "model": body["model"],
                    "choices": [],
                    "usage": self.usage(),
                }
            )
        yield sse_event("[DONE]")

    async def list_models(self, request: Request) -> Response:
        _recorded, early = await self.begin(request)
        if early:
            return early
        data = [
            {
                "id": m,
                "object": "model",
                "created": 1700000000,
                "owned_by": "fake",
                **self.model_fields.get(m, {}),
            }
            for m in self.models
        ]
        return JSONResponse(data if self.bare_model_list else {"object": "list", "data": data})

    async def embeddings(self, request: Request) -> Response:
        recorded, early = await self.begin(request)
        if early:
            return early
        body = recorded.json or {}
        texts = [body["input"]] if isinstance(body.get("input"), str) else body.get("input") or []
        data = [
            {"object": "embedding", "index": i, "embedding": fake_vector(t)}
            for i, t in enumerate(texts)
        ]
        usage = {"prompt_tokens": len(texts) * 2, "total_tokens": len(texts) * 2}
        return JSONResponse(
            {"object": "list", "data": data, "model": body.get("model"), "usage": usage}
        )


# --- Anthropic Messages ----------------------------------------------------------------


class AnthropicUpstream(FakeUpstream):
    """POST /v1/messages (JSON and SSE), GET /v1/models."""

    default_models = ("claude-sonnet-4-20250514", "claude-3-5-haiku-20241022", "claude-3-opus")

    def routes(self) -> list[Route]:
        return [
            Route("/v1/messages", self.messages, methods=["POST"]),
            Route("/v1/models", self.list_models, methods=["GET"]),
        ]

    def error_response(self, status: int, message: str) -> Response:
        kind = {400: "invalid_request_error", 401: "authentication_error"}.get(status, "api_error")
        body = {"type": "error", "error": {"type": kind, "message": message}}
        return JSONResponse(body, status_code=status)

    def authorized(self, request: Request) -> bool:
        return self.api_key is None or request.headers.get("x-api-key") == self.api_key

    def invalid(self, body: dict[str, Any], headers: dict[str, str]) -> str | None:
        if "anthropic-version" not in headers:
            return "anthropic-version: header is required"
        if not isinstance(body.get("max_tokens"), int):
            return "max_tokens: Field required"
        for message in body.get("messages") or []:
            if message.get("role") not in ("user", "assistant"):
                return f"messages: Unexpected role {message.get('role')!r}"
        if not body.get("messages"):
            return "messages: Field required"
        return None

    def content(self) -> list[dict[str, Any]]:
        if self.tool_call:
            name, arguments = self.tool_call
            return [
                {"type": "text", "text": "Let me check."},
                {"type": "tool_use", "id": "toolu_01", "name": name, "input": arguments},
            ]
        return [{"type": "text", "text": self.reply_text}]

    async def messages(self, request: Request) -> Response:
        recorded, early = await self.begin(request)
        if early:
            return early
        body = recorded.json or {}
        if problem := self.invalid(body, recorded.headers):
            return self.error_response(400, problem)
        if body.get("stream"):
            return self.sse(self._events(body))
        reply = {
            "id": "msg_fake1",
            "type": "message",
            "role": "assistant",
            "model": body["model"],
            "content": self.content(),
            "stop_reason": "tool_use" if self.tool_call else "end_turn",
            "stop_sequence": None,
        }
        if self.include_usage:
            reply["usage"] = {
                "input_tokens": PROMPT_TOKENS,
                "output_tokens": self.completion_tokens,
            }
        return JSONResponse(reply)

    async def _events(self, body: dict[str, Any]) -> AsyncIterator[str]:
        def event(kind: str, **fields: Any) -> str:
            return sse_event({"type": kind, **fields}, event=kind)

        message = {
            "id": "msg_fake1",
            "type": "message",
            "role": "assistant",
            "content": [],
            "model": body["model"],
            "stop_reason": None,
            "stop_sequence": None,
        }
        if self.include_usage:
            message["usage"] = {"input_tokens": PROMPT_TOKENS, "output_tokens": 1}
        yield event("message_start", message=message)
        yield event("ping")
        if self.tool_call:
            name, arguments = self.tool_call
            block = {"type": "tool_use", "id": "toolu_01", "name": name, "input": {}}
            yield event("content_block_start", index=0, content_block=block)
            encoded = json.dumps(arguments)
            for part in (encoded[: len(encoded) // 2], encoded[len(encoded) // 2 :]):
                delta = {"type": "input_json_delta", "partial_json": part}
                yield event("content_block_delta", index=0, delta=delta)
        else:
            block = {"type": "text", "text": ""}
            yield event("content_block_start", index=0, content_block=block)
            async for _index, piece in self.stream_pieces():
                delta = {"type": "text_delta", "text": piece}
                yield event("content_block_delta", index=0, delta=delta)
        yield event("content_block_stop", index=0)
        stop = {"stop_reason": "tool_use" if self.tool_call else "end_turn", "stop_sequence": None}
        usage = {"output_tokens": self.completion_tokens} if self.include_usage else None
        yield event("message_delta", delta=stop, usage=usage)
        yield event("message_stop")

    async def list_models(self, request: Request) -> Response:
        recorded, early = await self.begin(request)
        if early:
            return early
        start = (
            self.models.index(recorded.query["after_id"]) + 1 if "after_id" in recorded.query else 0
        )
        limit = int(recorded.query.get("limit", 20))
        chunk, following = self.page(self.models, start, limit)
        data = [
            {"type": "model", "id": m, "display_name": m, "created_at": "2025-01-01T00:00:00Z"}
            for m in chunk
        ]
        return JSONResponse(
            {
                "data": data,
                "has_more": following is not None,
                "first_id": chunk[0] if chunk else None,
                "last_id": chunk[-1] if chunk else None,
            }
        )


# --- Google Gemini ------------------------------------------------------------------


class GeminiUpstream(FakeUpstream):
    """POST /v1beta/models/{model}:generateContent | :streamGenerateContent | :batchEmbedContents,
    GET /v1beta/models."""

    default_models = ("gemini-2.5-flash", "gemini-2.5-pro", "text-embedding-004")

    def routes(self) -> list[Route]:
        return [
            Route("/v1beta/models", self.list_models, methods=["GET"]),
            Route("/v1beta/models/{target:path}", self.model_action, methods=["POST"]),
        ]

    def error_response(self, status: int, message: str) -> Response:
        names = {400: "INVALID_ARGUMENT", 403: "PERMISSION_DENIED", 404: "NOT_FOUND"}
        error = {"code": status, "message": message, "status": names.get(status, "INTERNAL")}
        return JSONResponse({"error": error}, status_code=status)

    def authorized(self, request: Request) -> bool:
        given = request.headers.get("x-goog-api-key") or request.query_params.get("key")
        return self.api_key is None or given == self.api_key

    def unauthorized(self) -> Response:
        return self.error_response(400, "API key not valid. Please pass a valid API key.")

    def invalid(self, body: dict[str, Any]) -> str | None:
        contents = body.get("contents")
        if not contents:
            return "* GenerateContentRequest.contents: contents is not specified"
        for content in contents:
            if content.get("role") not in ("user", "model"):
                return f"Please use a valid role: user, model. (got {content.get('role')!r})"
            if not content.get("parts"):
                return "* GenerateContentRequest.contents.parts: contents.parts must not be empty"
        return None

    def usage(self) -> dict[str, int]:
        return {
            "promptTokenCount": PROMPT_TOKENS,
            "candidatesTokenCount": self.completion_tokens,
            "totalTokenCount": PROMPT_TOKENS + self.completion_tokens,
        }

    def response(self, model: str, parts: list[dict[str, Any]], finish: str | None) -> dict:
        candidate: dict[str, Any] = {"content": {"parts": parts, "role": "model"}, "index": 0}
        if finish:
            candidate["finishReason"] = finish
        reply: dict[str, Any] = {
            "candidates": [candidate],
            "modelVersion": model,
            "responseId": "resp-fake1",
        }
        if self.include_usage:
            reply["usageMetadata"] = self.usage()
        return reply

    def parts(self) -> list[dict[str, Any]]:
        if self.tool_call:
            name, arguments = self.tool_call
            return [{"functionCall": {"name": name, "args": arguments}}]
        return [{"text": self.reply_text}]

    async def model_action(self, request: Request) -> Response:
        recorded, early = await self.begin(request)
        if early:
            return early
        model, _, action = request.path_params["target"].partition(":")
        body = recorded.json or {}
        if action == "batchEmbedContents":
            return self.embed(model, body)
        if action not in ("generateContent", "streamGenerateContent"):
            return self.error_response(404, f"unknown method {action}")
        if problem := self.invalid(body):
            return self.error_response(400, problem)
        if action == "generateContent":
            return JSONResponse(self.response(model, self.parts(), "STOP"))
        if recorded.query.get("alt") != "sse":
            return JSONResponse([self.response(model, self.parts(), "STOP")])
        return self.sse(self._events(model))

    async def _events(self, model: str) -> AsyncIterator[str]:
        if self.tool_call:
            yield sse_event(self.response(model, self.parts(), "STOP"))
            return
        last = len(self.pieces) - 1
        async for index, piece in self.stream_pieces():
            finish = "STOP" if index == last else None
            yield sse_event(self.response(model, [{"text": piece}], finish))

    def embed(self, model: str, body: dict[str, Any]) -> Response:
        requests = body.get("requests") or []
        for item in requests:
            if item.get("model") != f"models/{model}":
                return self.error_response(400, "model of each request must match the URL")
        vectors = [
            {"values": fake_vector("".join(p.get("text", "") for p in r["content"]["parts"]))}
            for r in requests
        ]
        return JSONResponse({"embeddings": vectors})

    async def list_models(self, request: Request) -> Response:
        recorded, early = await self.begin(request)
        if early:
            return early
        start = int(recorded.query.get("pageToken", 0))
        chunk, following = self.page(self.models, start, int(recorded.query.get("pageSize", 50)))
        models = [
            {"name": f"models/{m}", "supportedGenerationMethods": ["generateContent"]}
            for m in chunk
        ]
        reply: dict[str, Any] = {"models": models}
        if following is not None:
            reply["nextPageToken"] = str(following)
        return JSONResponse(reply)


# --- Cohere v2 --------------------------------------------------------------------------


class CohereUpstream(FakeUpstream):
    """POST /v2/chat (JSON and SSE), POST /v2/embed, GET /v1/models."""

    default_models = ("command-a-03-2025", "command-r-08-2024", "embed-v4.0")

    def routes(self) -> list[Route]:
        return [
            Route("/v2/chat", self.chat, methods=["POST"]),
            Route("/v2/embed", self.embed, methods=["POST"]),
            Route("/v1/models", self.list_models, methods=["GET"]),
        ]

    def error_response(self, status: int, message: str) -> Response:
        return JSONResponse({"id": str(uuid.uuid4()), "message": message}, status_code=status)

    def usage(self) -> dict[str, Any]:
        billed = {"input_tokens": PROMPT_TOKENS, "output_tokens": self.completion_tokens}
        raw = {"input_tokens": PROMPT_TOKENS + 50, "output_tokens": self.completion_tokens + 2}
        return {"billed_units": billed, "tokens": raw}

    def invalid(self, body: dict[str, Any]) -> str | None:
        if not body.get("model"):
            return "invalid request: model must be specified"
        for message in body.get("messages") or []:
            if message.get("role") not in ("system", "user", "assistant", "tool"):
                return f"invalid request: invalid role {message.get('role')!r}"
        return None if body.get("messages") else "invalid request: messages must not be empty"

    async def chat(self, request: Request) -> Response:
        recorded, early = await self.begin(request)
        if early:
            return early
        body = recorded.json or {}
        if problem := self.invalid(body):
            return self.error_response(400, problem)
        if body.get("stream"):
            return self.sse(self._events())
        message: dict[str, Any] = {"role": "assistant"}
        if self.tool_call:
            name, arguments = self.tool_call
            message["tool_plan"] = "I will call the tool."
            message["tool_calls"] = [
                {
                    "id": "call_c1",
                    "type": "function",
                    "function": {"name": name, "arguments": json.dumps(arguments)},
                }
            ]
        else:
            message["content"] = [{"type": "text", "text": self.reply_text}]
        reply = {
            "id": "cohere-fake1",
            "finish_reason": "TOOL_CALL" if self.tool_call else "COMPLETE",
            "message": message,
        }
        if self.include_usage:
            reply["usage"] = self.usage()
        return JSONResponse(reply)

    async def _events(self) -> AsyncIterator[str]:
        def event(kind: str, **fields: Any) -> str:
            return sse_event({"type": kind, **fields}, event=kind)

        start = {"message": {"role": "assistant", "content": [], "tool_plan": "", "tool_calls": []}}
        yield event("message-start", id="cohere-fake1", delta=start)
        if self.tool_call:
            name, arguments = self.tool_call
            yield event("tool-plan-delta", delta={"message": {"tool_plan": "I will call it."}})
            call = {
                "id": "call_c1",
                "type": "function",
                "function": {"name": name, "arguments": ""},
            }
            yield event("tool-call-start", index=0, delta={"message": {"tool_calls": call}})
            arguments_delta = {"tool_calls": {"function": {"arguments": json.dumps(arguments)}}}
            yield event("tool-call-delta", index=0, delta={"message": arguments_delta})
            yield event("tool-call-end", index=0)
        else:
            content = {"content": {"type": "text", "text": ""}}
            yield event("content-start", index=0, delta={"message": content})
            async for _index, piece in self.stream_pieces():
                delta = {"message": {"content": {"text": piece}}}
                yield event("content-delta", index=0, delta=delta)
            yield event("content-end", index=0)
        end: dict[str, Any] = {"finish_reason": "TOOL_CALL" if self.tool_call else "COMPLETE"}
        if self.include_usage:
            end["usage"] = self.usage()
        yield event("message-end", delta=end)

    async def embed(self, request: Request) -> Response:
        recorded, early = await self.begin(request)
        if early:
            return early
        body = recorded.json or {}
        if not body.get("input_type"):
            return self.error_response(400, "invalid request: input_type is required")
        texts = body.get("texts") or []
        return JSONResponse(
            {
                "id": "embed-fake1",
                "embeddings": {"float": [fake_vector(t) for t in texts]},
                "texts": texts,
                "meta": {"billed_units": {"input_tokens": 2 * len(texts)}},
                "response_type": "embeddings_by_type",
            }
        )

    async def list_models(self, request: Request) -> Response:
        recorded, early = await self.begin(request)
        if early:
            return early
        start = int(recorded.query.get("page_token", 0))
        chunk, following = self.page(self.models, start, int(recorded.query.get("page_size", 20)))
        reply: dict[str, Any] = {"models": [{"name": m, "endpoints": ["chat"]} for m in chunk]}
        if following is not None:
            reply["next_page_token"] = str(following)
        return JSONResponse(reply)


# --- Replicate predictions ------------------------------------------------------------


class ReplicateUpstream(FakeUpstream):
    """Predictions API: create (model or version), get, cancel, SSE stream; GET /v1/models."""

    default_models = ("meta/meta-llama-3-8b-instruct", "meta/meta-llama-3-70b-instruct")

    def reset(self) -> None:
        super().reset()
        self.predictions: dict[str, dict[str, Any]] = {}
        self.polls_before_done = 0  # GETs that still see the prediction running
        self.prediction_error: str | None = None
        self.can_stream = True

    def fail_prediction(self, error: str) -> None:
        self.prediction_error = error

    def routes(self) -> list[Route]:
        return [
            Route("/v1/models/{owner}/{name}/predictions", self.create, methods=["POST"]),
            Route("/v1/predictions", self.create, methods=["POST"]),
            Route("/v1/predictions/{id}", self.get, methods=["GET"]),
            Route("/v1/predictions/{id}/cancel", self.cancel, methods=["POST"]),
            Route("/v1/stream/{id}", self.stream, methods=["GET"]),
            Route("/v1/models", self.list_models, methods=["GET"]),
        ]

    def error_response(self, status: int, message: str) -> Response:
        body = {"title": "Request failed", "detail": message, "status": status}
        return JSONResponse(body, status_code=status, media_type="application/problem+json")

    def finish(self, prediction: dict[str, Any]) -> None:
        if self.prediction_error:
            prediction.update(status="failed", error=self.prediction_error)
            return
        prediction.update(status="succeeded", output=self.pieces)
        if self.include_usage:
            prediction["metrics"] = {
                "input_token_count": PROMPT_TOKENS,
                "output_token_count": self.completion_tokens,
                "predict_time": 0.1,
            }

    async def create(self, request: Request) -> Response:
        recorded, early = await self.begin(request)
        if early:
            return early
        body = recorded.json or {}
        if not isinstance(body.get("input"), dict):
            return self.error_response(422, "input is required")
        prediction_id = uuid.uuid4().hex[:12]
        base = str(request.base_url).rstrip("/")
        owner, name = request.path_params.get("owner"), request.path_params.get("name")
        urls = {
            "get": f"{base}/v1/predictions/{prediction_id}",
            "cancel": f"{base}/v1/predictions/{prediction_id}/cancel",
            "web": f"https://replicate.com/p/{prediction_id}",
        }
        if self.can_stream:
            urls["stream"] = f"{base}/v1/stream/{prediction_id}"
        prediction: dict[str, Any] = {
            "id": prediction_id,
            "model": f"{owner}/{name}" if owner else "owner/versioned",
            "version": body.get("version", "hidden"),
            "input": body["input"],
            "logs": "",
            "output": None,
            "error": None,
            "status": "starting",
            "created_at": "2025-01-01T00:00:00.000Z",
            "urls": urls,
        }
        self.predictions[prediction_id] = prediction
        waits = recorded.headers.get("prefer", "").startswith("wait")
        if waits and self.polls_before_done == 0:
            self.finish(prediction)
        return JSONResponse(prediction, status_code=201)

    async def get(self, request: Request) -> Response:
        _recorded, early = await self.begin(request)
        if early:
            return early
        prediction = self.predictions.get(request.path_params["id"])
        if prediction is None:
            return self.error_response(404, "Not found.")
        if prediction["status"] in ("starting", "processing"):
            if self.polls_before_done > 0:
                self.polls_before_done -= 1
                prediction["status"] = "processing"
            else:
                self.finish(prediction)
        return JSONResponse(prediction)

    async def cancel(self, request: Request) -> Response:
        _recorded, early = await self.begin(request)
        if early:
            return early
        prediction = self.predictions[request.path_params["id"]]
        prediction["status"] = "canceled"
        return JSONResponse(prediction)

    async def stream(self, request: Request) -> Response:
        _recorded, early = await self.begin(request)
        if early:
            return early
        if "text/event-stream" not in request.headers.get("accept", ""):
            return self.error_response(406, "Accept: text/event-stream is required")
        prediction = self.predictions[request.path_params["id"]]
        return self.sse(self._events(prediction))

    async def _events(self, prediction: dict[str, Any]) -> AsyncIterator[str]:
        if self.prediction_error:
            prediction.update(status="failed", error=self.prediction_error)
            yield sse_event({"detail": self.prediction_error}, event="error")
            return
        async for index, piece in self.stream_pieces():
            yield f"event: output\nid: {index}\n" + sse_event(piece)
        self.finish(prediction)
        yield sse_event("{}", event="done")

    async def list_models(self, request: Request) -> Response:
        _recorded, early = await self.begin(request)
        if early:
            return early
        results = [
            {"owner": m.split("/")[0], "name": m.split("/")[1], "visibility": "public"}
            for m in self.models
        ]
        return JSONResponse({"next": None, "previous": None, "results": results})


# --- Ollama -----------------------------------------------------------------------------


class OllamaUpstream(FakeUpstream):
    """POST /api/chat (JSON, or NDJSON unless stream is false), GET /api/tags, POST /api/embed."""

    default_models = ("llama3.2:latest", "qwen2.5:7b", "nomic-embed-text:latest")

    def __init__(self, *, api_key: str | None = None) -> None:
        super().__init__(api_key=api_key)

    def routes(self) -> list[Route]:
        return [
            Route("/api/chat", self.chat, methods=["POST"]),
            Route("/api/tags", self.tags, methods=["GET"]),
            Route("/api/show", self.show, methods=["POST"]),
            Route("/api/embed", self.embed, methods=["POST"]),
        ]

    def error_response(self, status: int, message: str) -> Response:
        return JSONResponse({"error": message}, status_code=status)

    def counts(self) -> dict[str, int]:
        if not self.include_usage:
            return {}
        return {"prompt_eval_count": PROMPT_TOKENS, "eval_count": self.completion_tokens}

    def message(self) -> dict[str, Any]:
        if self.tool_call:
            name, arguments = self.tool_call
            call = {"function": {"name": name, "arguments": arguments}}
            return {"role": "assistant", "content": "", "tool_calls": [call]}
        return {"role": "assistant", "content": self.reply_text}

    async def chat(self, request: Request) -> Response:
        recorded, early = await self.begin(request)
        if early:
            return early
        body = recorded.json or {}
        if body.get("model") not in self.models:
            message = f'model "{body.get("model")}" not found, try pulling it first'
            return self.error_response(404, message)
        if body.get("stream", True):
            return StreamingResponse(self._lines(body), media_type="application/x-ndjson")
        reply = {
            "model": body["model"],
            "created_at": "2025-01-01T00:00:00Z",
            "message": self.message(),
            "done_reason": "stop",
            "done": True,
            "total_duration": 1000,
            **self.counts(),
        }
        return JSONResponse(reply)

    async def _lines(self, body: dict[str, Any]) -> AsyncIterator[str]:
        def line(message: dict[str, Any], **extra: Any) -> str:
            fields = {"model": body["model"], "created_at": "2025-01-01T00:00:00Z"}
            return json.dumps({**fields, "message": message, **extra}) + "\n"

        if self.tool_call:
            yield line(self.message(), done=False)
        else:
            async for _index, piece in self.stream_pieces():
                yield line({"role": "assistant", "content": piece}, done=False)
        final = {"done": True, "done_reason": "stop", "total_duration": 1000, **self.counts()}
        yield line({"role": "assistant", "content": ""}, **final)

    async def tags(self, request: Request) -> Response:
        _recorded, early = await self.begin(request)
        if early:
            return early
        models = [
            {"name": m, "model": m, "modified_at": "2025-01-01T00:00:00Z", "size": 1000}
            for m in self.models
        ]
        return JSONResponse({"models": models})

    async def show(self, request: Request) -> Response:
        """`/api/show`: `model_fields[name]` may give `context_length` and `capabilities`."""
        recorded, early = await self.begin(request)
        if early:
            return early
        name = (recorded.json or {}).get("model")
        if name not in self.models:
            return self.error_response(404, f"model '{name}' not found")
        fields = self.model_fields.get(name, {})
        family = name.split(":")[0].replace(".", "")
        info = {"general.architecture": family}
        if "context_length" in fields:
            info[f"{family}.context_length"] = fields["context_length"]
        return JSONResponse(
            {
                "modelfile": "",
                "details": {
                    "family": family,
                    "parameter_size": "3.2B",
                    "quantization_level": "Q4_K_M",
                },
                "model_info": info,
                "capabilities": fields.get("capabilities", ["completion"]),
            }
        )

    async def embed(self, request: Request) -> Response:
        recorded, early = await self.begin(request)
        if early:
            return early
        body = recorded.json or {}
        texts = [body["input"]] if isinstance(body.get("input"), str) else body.get("input") or []
        return JSONResponse(
            {
                "model": body.get("model"),
                "embeddings": [fake_vector(t) for t in texts],
                "prompt_eval_count": 2 * len(texts),
            }
        )
