"""The one pure-ASGI middleware on the hot path: request id, body limit, NUL refusal, access
log."""

import logging
import os
import re
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import orjson

from atrium.errors import NulCharacter, PayloadTooLarge, error_body
from atrium.text import NulScanner, nul_in_query

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

access_log = logging.getLogger("atrium.access")
VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")


class BodyTooLarge(PayloadTooLarge):
    """Raised from `receive` when a streamed body passes its limit."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"The request body is larger than the limit of {limit} bytes")
        self.limit = limit


def _header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope["headers"]:
        if key == name:
            return value
    return None


class RequestContextMiddleware:
    """Assigns a request id, enforces the body size limit and writes one JSON log line."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        max_body: int,
        large_bodies: dict[str, int] | None = None,
        log_requests: bool = True,
        audit: Callable[[tuple], None] | None = None,
        in_flight: dict[str, int] | None = None,
    ) -> None:
        self.app = app
        # the audit log's queue `append`: one tuple per request, written later in batches
        self.audit = audit
        self.in_flight = in_flight if in_flight is not None else {"inference": 0}
        self.max_body = max_body
        self.large_bodies = large_bodies or {}
        self.log_requests = log_requests

    def _limit_for(self, path: str) -> int:
        return self.large_bodies.get(path, self.max_body)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        given = _header(scope, b"x-request-id")
        request_id = given.decode() if given and VALID_REQUEST_ID.match(given.decode()) else None
        request_id = request_id or os.urandom(8).hex()
        scope.setdefault("state", {})["request_id"] = request_id
        status_holder = [500]
        id_header = (b"x-request-id", request_id.encode())

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                status_holder[0] = message["status"]
                message["headers"] = [*message.get("headers", []), id_header]
            await send(message)

        limit = self._limit_for(scope["path"])
        declared = _header(scope, b"content-length")
        inference = scope["path"].startswith("/v1/")
        if inference:
            self.in_flight["inference"] += 1
        try:
            if declared is not None and declared.isdigit() and int(declared) > limit:
                await _reject_too_large(send_with_id, request_id, limit)
            elif nul_in_query(scope["query_string"]) or "\x00" in scope["path"]:
                await _reject_nul(send_with_id, scope["path"], request_id)
            else:
                scanner = _nul_scanner(_header(scope, b"content-type"))
                await self.app(scope, _limited(receive, limit, scanner), send_with_id)
        finally:
            # also when the app raised: the server answers 500 and the log says so
            if inference:
                self.in_flight["inference"] -= 1
            if self.audit is not None:
                self.audit(_audit_entry(scope, status_holder[0], started, request_id))
            if self.log_requests:
                _log_request(scope, request_id, status_holder[0], started)


def _audit_entry(scope: Scope, status: int, started: float, request_id: str) -> tuple:
    """Only plain values: a queued entry must keep no request object (scope, headers,
    principal) alive, or every garbage collection until the flush would walk them. Every
    request pays for this, so it reads each value once and calls nothing it can avoid."""
    principal = scope["state"].get("principal")
    if principal is None:
        user_id = key_id = key_prefix = None
    else:
        user_id, key_id, key_prefix = principal.user_id, principal.key_id, principal.key_prefix
    route = scope.get("route")
    client = scope.get("client")
    agent = None
    for name, value in scope["headers"]:
        if name == b"user-agent":
            agent = value
            break
    return (
        time.time(),
        user_id,
        key_id,
        key_prefix,
        scope["method"],
        route.path if route is not None else None,
        scope["path"],
        scope["query_string"],
        status,
        (time.perf_counter() - started) * 1000,
        client[0] if client else None,
        agent,
        request_id,
    )


def _nul_scanner(content_type: bytes | None) -> NulScanner | None:
    """JSON and form bodies are text; uploads (multipart, raw bytes) are not scanned."""
    if content_type is None:
        return None
    media = content_type.split(b";", 1)[0].strip().lower()
    if media == b"application/json" or media.endswith(b"+json"):
        return NulScanner(form=False)
    if media == b"application/x-www-form-urlencoded":
        return NulScanner(form=True)
    return None


def _limited(receive: Receive, limit: int, scanner: NulScanner | None) -> Receive:
    received = 0

    async def limited_receive() -> Message:
        nonlocal received
        message = await receive()
        if message["type"] == "http.request":
            body = message.get("body", b"")
            received += len(body)
            if received > limit:
                raise BodyTooLarge(limit)
            if scanner is not None and body and scanner.found_in(body):
                raise NulCharacter()
        return message

    return limited_receive


async def _reject_nul(send: Send, path: str, request_id: str) -> None:
    detail = NulCharacter.detail
    errors = [{"loc": ["query"], "msg": detail, "type": NulCharacter.code}]
    body = error_body(path, 422, NulCharacter.code, detail, request_id, extra={"errors": errors})
    await _send_json(send, 422, orjson.dumps(body))


async def _reject_too_large(send: Send, request_id: str, limit: int) -> None:
    body = orjson.dumps(
        {
            "detail": f"The request body is larger than the limit of {limit} bytes",
            "code": "payload_too_large",
            "request_id": request_id,
        }
    )
    await _send_json(send, 413, body)


async def _send_json(send: Send, status: int, body: bytes) -> None:
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _log_request(scope: Scope, request_id: str, status: int, started: float) -> None:
    if not access_log.isEnabledFor(logging.INFO):
        return
    client = scope.get("client")
    line = orjson.dumps(
        {
            "request_id": request_id,
            "method": scope["method"],
            "path": scope["path"],
            "status": status,
            "ms": round((time.perf_counter() - started) * 1000, 2),
            "client": client[0] if client else None,
        }
    ).decode()
    # straight to the handlers: `info()` would also walk the stack for the caller's line
    access_log.handle(access_log.makeRecord(access_log.name, logging.INFO, "", 0, line, None, None))
