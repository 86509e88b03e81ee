"""A lean HTTP/1.1 transport under the outbound httpx client.

httpx's own transport (httpcore + h11 + anyio) costs several times the CPU per call of this
one (the `gateway_transport` bench scenario measures both in the same run); this one speaks
HTTP/1.1 over asyncio streams with the C parser uvicorn already uses (httptools), keeps
connections alive per origin (at most `max_connections` each, later requests queue), and
relays response bodies chunk by chunk as they arrive. It plugs in through httpx's public
transport interface, so the callers and their error mapping do not change.

A request is sent again only when the server cannot have acted on it: an idle connection the
server has closed is found before any byte is written and dropped; once bytes are written,
only an idempotent request (GET, HEAD, ...) is retried, once, and only when a kept-alive
connection closed without a byte of answer. A POST is never sent twice.

SSRF: unless a request carries the ALLOW_PRIVATE extension, every address the host resolves
to is checked and the connection goes to the checked address; TLS still verifies the
certificate against the host name. Redirects are never followed (the client's choice).
"""

import asyncio
import select
import ssl
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

import httptools
import httpx

from atrium.security import ssrf

ALLOW_PRIVATE = "atrium.allow_private"  # request extension: skip the SSRF check
READ_SIZE = 65536
MAX_CONNECTIONS_PER_ORIGIN = 100
MAX_IDLE_PER_ORIGIN = 64
DRAIN_SECONDS = 5.0
IDEMPOTENT = frozenset(("GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"))
NO_ANSWER = "the server closed the connection without answering"
NOT_RESENT = NO_ANSWER + "; the request was not sent again because the server may have acted on it"
Origin = tuple[str, str, int, bool]  # scheme, host, port, private addresses allowed


class _NotAnswered(Exception):
    """A kept-alive connection closed after the request was written, before any answer."""


@dataclass(eq=False)
class _Connection:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    pool: "_Pool"
    reused: bool = False
    closed: bool = False

    def idle_and_open(self) -> bool:
        """False when the server closed the idle connection or sent something unasked.

        The event loop notices a close only on its next pass, so the socket itself is also
        polled: an idle HTTP/1.1 connection has nothing to read unless it is finished.
        """
        if self.reader.at_eof() or self.writer.is_closing():
            return False
        sock = self.writer.get_extra_info("socket")
        if sock is None:
            return True
        readable, _, _ = select.select([sock.fileno()], [], [], 0)
        return not readable

    def release(self) -> None:
        self.pool.release(self)

    def discard(self) -> None:
        self.pool.discard(self)


class _Pool:
    """The connections to one origin: at most `limit` open, idle ones kept for reuse."""

    def __init__(self, limit: int, max_idle: int) -> None:
        self.limit = limit
        self.max_idle = max_idle
        self.idle: list[_Connection] = []
        self.opened = 0
        self.waiters: deque[asyncio.Future[None]] = deque()
        self.closed = False

    async def acquire(
        self, connect: Callable[["_Pool"], Awaitable[_Connection]], wait_timeout: float | None
    ) -> _Connection:
        deadline = (
            None if wait_timeout is None else asyncio.get_running_loop().time() + wait_timeout
        )
        while True:
            while self.idle:
                connection = self.idle.pop()
                if connection.idle_and_open():
                    return connection
                self.discard(connection)
            if self.opened < self.limit:
                return await self._open(connect)
            await self._wait(deadline)

    async def _open(self, connect: Callable[["_Pool"], Awaitable[_Connection]]) -> _Connection:
        self.opened += 1
        try:
            return await connect(self)
        except BaseException:
            self.opened -= 1
            self._wake()
            raise

    async def _wait(self, deadline: float | None) -> None:
        waiter = asyncio.get_running_loop().create_future()
        self.waiters.append(waiter)
        try:
            async with asyncio.timeout_at(deadline):
                await waiter
        except BaseException as exc:
            if waiter in self.waiters:
                self.waiters.remove(waiter)
            elif waiter.done() and not waiter.cancelled():
                self._wake()  # woken but leaving: pass the turn on
            if isinstance(exc, TimeoutError):
                raise httpx.PoolTimeout("timed out waiting for a free connection") from None
            raise

    def _wake(self) -> None:
        while self.waiters:
            waiter = self.waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    def release(self, connection: _Connection) -> None:
        if self.closed or len(self.idle) >= self.max_idle:
            self.discard(connection)
            return
        connection.reused = True
        self.idle.append(connection)
        self._wake()

    def discard(self, connection: _Connection) -> None:
        if connection.closed:
            return
        connection.closed = True
        connection.writer.close()
        self.opened -= 1
        self._wake()

    def close(self) -> None:
        self.closed = True
        while self.idle:
            self.discard(self.idle.pop())


@dataclass(eq=False)
class _Parsed:
    """What httptools reports while a response is read."""

    headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    headers_done: bool = False
    body: deque[bytes] = field(default_factory=deque)
    complete: bool = False

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name, value))

    def on_headers_complete(self) -> None:
        self.headers_done = True

    def on_body(self, body: bytes) -> None:
        self.body.append(bytes(body))

    def on_message_complete(self) -> None:
        self.complete = True


def _head(request: httpx.Request) -> bytes:
    target = request.url.raw_path or b"/"
    lines = [request.method.encode() + b" " + target + b" HTTP/1.1"]
    lines += [name + b": " + value for name, value in request.headers.raw]
    return b"\r\n".join(lines) + b"\r\n\r\n"


async def _write(connection: _Connection, payload: bytes, seconds: float | None) -> None:
    try:
        async with asyncio.timeout(seconds):
            connection.writer.write(payload)
            await connection.writer.drain()
    except TimeoutError:
        raise httpx.WriteTimeout("timed out sending the request") from None
    except OSError as exc:
        raise httpx.WriteError(str(exc) or type(exc).__name__) from exc


async def _read(connection: _Connection, seconds: float | None) -> bytes:
    try:
        async with asyncio.timeout(seconds):
            return await connection.reader.read(READ_SIZE)
    except TimeoutError:
        raise httpx.ReadTimeout("timed out waiting for the server") from None
    except OSError as exc:
        raise httpx.ReadError(str(exc) or type(exc).__name__) from exc


def _feed(parser: httptools.HttpResponseParser, data: bytes) -> None:
    try:
        parser.feed_data(data)
    except httptools.HttpParserUpgrade:
        raise httpx.RemoteProtocolError("unexpected protocol upgrade") from None
    except httptools.HttpParserError as exc:
        raise httpx.RemoteProtocolError(f"malformed HTTP response: {exc}") from exc


def _keeps_alive(parser: httptools.HttpResponseParser, parsed: _Parsed) -> bool:
    for name, value in parsed.headers:
        if name.lower() == b"connection":
            return value.strip().lower() != b"close"
    return parser.get_http_version() == "1.1"


class _Body(httpx.AsyncByteStream):
    """The response body as it arrives; the connection goes back to its pool when it ends."""

    def __init__(
        self,
        connection: _Connection,
        parser: httptools.HttpResponseParser,
        parsed: _Parsed,
        read_timeout: float | None,
        keep_alive: bool,
    ) -> None:
        self.connection: _Connection | None = connection
        self.parser = parser
        self.parsed = parsed
        self.read_timeout = read_timeout
        self.keep_alive = keep_alive
        self.done = parsed.complete
        names = {name.lower() for name, _value in parsed.headers}
        self.until_close = not names & {b"content-length", b"transfer-encoding"}

    async def __aiter__(self) -> AsyncIterator[bytes]:
        parsed = self.parsed
        while True:
            while parsed.body:
                yield parsed.body.popleft()
            if parsed.complete:
                self.done = True
                return
            if self.connection is None:
                raise httpx.StreamClosed()
            data = await self._read(self.connection)
            if not data:
                if self.until_close:  # a body delimited by the end of the connection
                    self.done, self.keep_alive = True, False
                    return
                raise httpx.RemoteProtocolError("the server closed the connection mid-response")
            _feed(self.parser, data)

    async def _read(self, connection: _Connection) -> bytes:
        try:
            return await _read(connection, self.read_timeout)
        except BaseException:
            self.keep_alive = False
            raise

    async def aclose(self) -> None:
        connection, self.connection = self.connection, None
        if connection is None:
            return
        if self.keep_alive and not self.done and not self.until_close:
            # the reader stopped at the last event (`[DONE]`) before the end of the body:
            # finish reading it in the background so that the connection can be reused
            _drain_later(self, connection)
        elif self.done and self.keep_alive:
            connection.release()
        else:
            connection.discard()

    async def finish(self, connection: _Connection) -> None:
        parsed = self.parsed
        try:
            async with asyncio.timeout(DRAIN_SECONDS):
                while not parsed.complete:
                    parsed.body.clear()
                    data = await connection.reader.read(READ_SIZE)
                    if not data:
                        break
                    _feed(self.parser, data)
        except (TimeoutError, OSError, httpx.HTTPError):
            pass
        finally:
            if parsed.complete:
                connection.release()
            else:
                connection.discard()


@dataclass(eq=False, slots=True)
class Answer:
    """A response as the transport read it: status, raw headers, and the body to read."""

    status_code: int
    headers: list[tuple[bytes, bytes]]
    body: _Body

    def header(self, name: bytes) -> bytes | None:
        """The first value of a header (`name` in lower case)."""
        for key, value in self.headers:
            if key.lower() == name:
                return value
        return None

    def aiter_raw(self) -> AsyncIterator[bytes]:
        """The body's bytes as they arrive (as httpx.Response.aiter_raw)."""
        return self.body.__aiter__()

    async def read(self) -> bytes:
        """The whole body; the connection goes back to its pool."""
        try:
            return b"".join([chunk async for chunk in self.body])
        finally:
            await self.body.aclose()


_draining: set[asyncio.Task[None]] = set()


def _drain_later(body: _Body, connection: _Connection) -> None:
    task = asyncio.get_running_loop().create_task(body.finish(connection))
    _draining.add(task)
    task.add_done_callback(_draining.discard)


class LeanTransport(httpx.AsyncBaseTransport):
    def __init__(self, *, max_connections: int = MAX_CONNECTIONS_PER_ORIGIN,
                 max_idle: int = MAX_IDLE_PER_ORIGIN, ssl_context: ssl.SSLContext | None = None,
                 ) -> None:  # fmt: skip
        self.max_connections = max_connections
        self.max_idle = max_idle
        self.ssl_context = ssl_context or ssl.create_default_context()
        self.pools: dict[Origin, _Pool] = {}

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        if url.scheme not in ("http", "https"):
            raise httpx.UnsupportedProtocol(f"unsupported URL scheme {url.scheme!r}")
        port = url.port or (443 if url.scheme == "https" else 80)
        origin = (url.scheme, url.host, port, bool(request.extensions.get(ALLOW_PRIVATE)))
        timeouts = request.extensions.get("timeout") or {}
        payload = _head(request) + await request.aread()
        answer = await self.send(origin, payload, request.method, timeouts)
        return httpx.Response(
            answer.status_code,
            headers=answer.headers,
            stream=answer.body,
            extensions={"http_version": b"HTTP/1.1"},
        )

    async def send(
        self, origin: Origin, payload: bytes, method: str, timeouts: dict[str, float | None]
    ) -> Answer:
        """Send a whole request (head and body, as bytes) to `origin` and read up to the end of
        the answer's head; the body is read from `Answer.body` as it arrives.

        What `handle_async_request` does after building the bytes from an httpx request; the
        gateway's hot path calls it with bytes it built itself (`outbound.http.post_bytes`)."""
        pool = self.pools.get(origin) or self._new_pool(origin)
        retried = False
        while True:
            connection = await pool.acquire(self._connector(origin, timeouts), timeouts.get("pool"))
            try:
                return await self._exchange(connection, payload, timeouts, method)
            except _NotAnswered:
                if method not in IDEMPOTENT:
                    raise httpx.RemoteProtocolError(NOT_RESENT) from None
                if retried:
                    raise httpx.RemoteProtocolError(NO_ANSWER + ", twice") from None
                retried = True

    def _new_pool(self, origin: Origin) -> _Pool:
        pool = self.pools[origin] = _Pool(self.max_connections, self.max_idle)
        return pool

    def _connector(
        self, origin: Origin, timeouts: dict[str, float | None]
    ) -> Callable[[_Pool], Awaitable[_Connection]]:
        async def connect(pool: _Pool) -> _Connection:
            reader, writer = await self._open(origin, timeouts.get("connect"))
            return _Connection(reader, writer, pool)

        return connect

    async def _open(
        self, origin: Origin, seconds: float | None
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        scheme, host, port, allow_private = origin
        tls = self.ssl_context if scheme == "https" else None
        try:
            async with asyncio.timeout(seconds):
                addresses: tuple[str | None, ...] = (None,)
                if not allow_private:
                    addresses = ssrf.check_addresses(host, await ssrf.resolve(host, port))
                return await _open_first(addresses, host, port, tls)
        except TimeoutError:
            raise httpx.ConnectTimeout(f"timed out connecting to {host}") from None
        except ssl.SSLError as exc:
            raise httpx.ConnectError(f"TLS handshake with {host} failed: {exc}") from exc
        except OSError as exc:
            raise httpx.ConnectError(str(exc) or type(exc).__name__) from exc

    async def _exchange(
        self, connection: _Connection, payload: bytes, timeouts: dict[str, float | None],
        method: str,
    ) -> Answer:  # fmt: skip
        read_timeout = timeouts.get("read")
        try:
            await _write(connection, payload, timeouts.get("write"))
            parser, parsed = await _read_head(connection, read_timeout)
        except BaseException:
            connection.discard()
            raise
        keep_alive = _keeps_alive(parser, parsed) and method != "HEAD"
        if method == "HEAD":
            parsed.complete = True
        body = _Body(connection, parser, parsed, read_timeout, keep_alive)
        return Answer(parser.get_status_code(), parsed.headers, body)

    async def aclose(self) -> None:
        for pool in self.pools.values():
            pool.close()


async def _open_first(
    addresses: tuple[str | None, ...], host: str, port: int, tls: ssl.SSLContext | None
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A connection to the first address that accepts (None: the host name itself)."""
    last: OSError | None = None
    for address in addresses:
        try:
            return await asyncio.open_connection(
                address or host, port, ssl=tls, server_hostname=host if tls else None,
                limit=READ_SIZE * 4,
            )  # fmt: skip
        except OSError as exc:
            last = exc
    assert last is not None
    raise last


async def _read_head(
    connection: _Connection, seconds: float | None
) -> tuple[httptools.HttpResponseParser, _Parsed]:
    parsed = _Parsed()
    parser = httptools.HttpResponseParser(parsed)
    answered = False
    while not parsed.headers_done:
        try:
            data = await _read(connection, seconds)
        except httpx.ReadError:
            if connection.reused and not answered:
                raise _NotAnswered() from None
            raise
        if not data:
            if connection.reused and not answered:
                raise _NotAnswered()
            raise httpx.RemoteProtocolError(NO_ANSWER)
        answered = True
        _feed(parser, data)
    return parser, parsed
