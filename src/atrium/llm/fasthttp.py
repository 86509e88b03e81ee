"""A lean HTTP/1.1 transport for the gateway's outbound client.

httpx's default transport (httpcore + h11 + anyio) costs about 0.7 ms per call on a small
machine, more than the gateway may add in total; this transport speaks HTTP/1.1 over asyncio
streams with the C parser that uvicorn already uses (httptools), keeps connections alive per
origin, and relays response bodies chunk by chunk as they arrive. It plugs in under
`httpx.AsyncClient`, so the adapters and their error mapping are unchanged.

SSRF (DECISIONS 19): unless a request carries the adapters' allow-private extension, every
address the host resolves to is checked and the connection goes to the checked address; TLS
still verifies the certificate against the host name. Redirects are never followed (httpx
leaves that to the client, which is configured not to).
"""

import asyncio
import ssl
from collections import defaultdict, deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import httptools
import httpx

from atrium.llm.adapters.http import ALLOW_PRIVATE
from atrium.security.ssrf import check_addresses, resolve

READ_SIZE = 65536
MAX_IDLE_PER_ORIGIN = 64
DRAIN_SECONDS = 5.0
URL_CACHE_SIZE = 1024
Origin = tuple[str, str, int, bool]


@dataclass(eq=False)
class _Connection:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    reused: bool = False

    def usable(self) -> bool:
        return not self.reader.at_eof() and not self.writer.is_closing()

    def close(self) -> None:
        self.writer.close()


@dataclass(eq=False)
class _Parsed:
    """What httptools reports while a response is read."""

    headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    headers_done: bool = False
    body: deque = field(default_factory=deque)
    complete: bool = False

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name, value))

    def on_headers_complete(self) -> None:
        self.headers_done = True

    def on_body(self, body: bytes) -> None:
        self.body.append(bytes(body))

    def on_message_complete(self) -> None:
        self.complete = True


def _timeouts(request: httpx.Request) -> tuple[float | None, float | None]:
    timeout = request.extensions.get("timeout") or {}
    return timeout.get("connect"), timeout.get("read")


def _head(request: httpx.Request) -> bytes:
    target = request.url.raw_path or b"/"
    lines = [request.method.encode() + b" " + target + b" HTTP/1.1"]
    lines += [name + b": " + value for name, value in request.headers.raw]
    return b"\r\n".join(lines) + b"\r\n\r\n"


class _Body(httpx.AsyncByteStream):
    """The response body as it arrives; the connection returns to the pool when it ends."""

    def __init__(self, transport: "FastTransport", origin: Origin, connection: _Connection,
                 parser: httptools.HttpResponseParser, parsed: _Parsed, read_timeout: float | None,
                 keep_alive: bool) -> None:  # fmt: skip
        self.transport = transport
        self.origin = origin
        self.connection = connection
        self.parser = parser
        self.parsed = parsed
        self.read_timeout = read_timeout
        self.keep_alive = keep_alive
        self.done = False
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
            data = await _read(self.connection, self.read_timeout)
            if not data:
                if self.until_close:  # a body delimited by the end of the connection
                    self.done, self.keep_alive = True, False
                    return
                raise httpx.RemoteProtocolError("the provider closed the connection mid-response")
            _feed(self.parser, data)

    async def aclose(self) -> None:
        connection, self.connection = self.connection, None  # type: ignore[assignment]
        if connection is None:
            return
        if self.keep_alive and not self.done and not self.until_close:
            # the reader stopped at the last event (`[DONE]`) before the end of the body:
            # finish reading it in the background so that the connection can be reused
            self.transport.drain(self, connection)
            return
        if self.done and self.keep_alive and connection.usable():
            self.transport.release(self.origin, connection)
        else:
            connection.close()

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
        if parsed.complete and connection.usable():
            self.transport.release(self.origin, connection)
        else:
            connection.close()


async def _read(connection: _Connection, seconds: float | None) -> bytes:
    try:
        async with asyncio.timeout(seconds):
            return await connection.reader.read(READ_SIZE)
    except TimeoutError:
        connection.close()
        raise httpx.ReadTimeout("timed out waiting for the provider") from None
    except OSError as exc:
        connection.close()
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


class _StaleConnection(Exception):
    """A kept-alive connection that the other side had closed; safe to retry once."""


class FastTransport(httpx.AsyncBaseTransport):
    def __init__(self) -> None:
        self.idle: dict[Origin, list[_Connection]] = defaultdict(list)
        self.ssl_context = ssl.create_default_context()
        self.draining: set[asyncio.Task] = set()

    def drain(self, body: _Body, connection: _Connection) -> None:
        task = asyncio.get_running_loop().create_task(body.finish(connection))
        self.draining.add(task)
        task.add_done_callback(self.draining.discard)

    def release(self, origin: Origin, connection: _Connection) -> None:
        idle = self.idle[origin]
        if len(idle) >= MAX_IDLE_PER_ORIGIN:
            connection.close()
            return
        connection.reused = True
        idle.append(connection)

    async def _connect(self, origin: Origin, connect_timeout: float | None) -> _Connection:
        scheme, host, port, allow_private = origin
        tls = self.ssl_context if scheme == "https" else None
        try:
            async with asyncio.timeout(connect_timeout):
                addresses: tuple[str | None, ...] = (None,)
                if not allow_private:
                    addresses = check_addresses(host, await resolve(host, port))
                last: OSError | None = None
                for address in addresses:
                    try:
                        reader, writer = await asyncio.open_connection(
                            address or host, port, ssl=tls,
                            server_hostname=host if tls else None, limit=READ_SIZE * 4,
                        )  # fmt: skip
                        return _Connection(reader, writer)
                    except OSError as exc:
                        last = exc
                assert last is not None
                raise last
        except TimeoutError:
            raise httpx.ConnectTimeout(f"timed out connecting to {host}") from None
        except ssl.SSLError as exc:
            raise httpx.ConnectError(f"TLS handshake with {host} failed: {exc}") from exc
        except OSError as exc:
            raise httpx.ConnectError(str(exc) or type(exc).__name__) from exc

    async def _acquire(self, origin: Origin, connect_timeout: float | None) -> _Connection:
        idle = self.idle[origin]
        while idle:
            connection = idle.pop()
            if connection.usable():
                return connection
            connection.close()
        return await self._connect(origin, connect_timeout)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        scheme = url.scheme
        if scheme not in ("http", "https"):
            raise httpx.UnsupportedProtocol(f"unsupported URL scheme {scheme!r}")
        port = url.port or (443 if scheme == "https" else 80)
        origin = (scheme, url.host, port, bool(request.extensions.get(ALLOW_PRIVATE)))
        connect_timeout, read_timeout = _timeouts(request)
        payload = _head(request) + await request.aread()
        for _attempt in range(2):
            connection = await self._acquire(origin, connect_timeout)
            try:
                return await self._exchange(origin, connection, payload, read_timeout, request)
            except _StaleConnection:
                continue
        raise httpx.RemoteProtocolError("the provider closed the connection without answering")

    async def _exchange(
        self,
        origin: Origin,
        connection: _Connection,
        payload: bytes,
        read_timeout: float | None,
        request: httpx.Request,
    ) -> httpx.Response:
        try:
            connection.writer.write(payload)
            await connection.writer.drain()
        except OSError as exc:
            connection.close()
            if connection.reused:
                raise _StaleConnection() from exc
            raise httpx.WriteError(str(exc) or type(exc).__name__) from exc
        parsed = _Parsed()
        parser = httptools.HttpResponseParser(parsed)
        while not parsed.headers_done:
            data = await _read(connection, read_timeout)
            if not data:
                connection.close()
                if connection.reused and not parsed.headers:
                    raise _StaleConnection()
                raise httpx.RemoteProtocolError("the provider closed the connection early")
            _feed(parser, data)
        keep_alive = _keeps_alive(parser, parsed) and request.method != "HEAD"
        if request.method == "HEAD":
            parsed.complete = True
        body = _Body(self, origin, connection, parser, parsed, read_timeout, keep_alive)
        return httpx.Response(
            parser.get_status_code(),
            headers=parsed.headers,
            stream=body,
            extensions={"http_version": b"HTTP/1.1"},
        )

    async def aclose(self) -> None:
        for connections in self.idle.values():
            for connection in connections:
                connection.close()
        self.idle.clear()


class _NoCookies(httpx.Cookies):
    """Providers get no cookies and keep none: nothing one caller's call sets reaches another's."""

    def extract_cookies(self, response: httpx.Response) -> None:
        return None

    def set_cookie_header(self, request: httpx.Request) -> None:
        return None


class GatewayClient(httpx.AsyncClient):
    """httpx's client with the per-call costs the gateway does not need taken out: provider
    URLs are parsed once (a bounded cache) and no cookie jar is kept."""

    def __init__(self, **options: object) -> None:
        super().__init__(**options)  # type: ignore[arg-type]
        self._cookies = _NoCookies()
        self._urls: dict[str, httpx.URL] = {}

    def _merge_url(self, url: httpx.URL | str) -> httpx.URL:
        if not isinstance(url, str):
            return super()._merge_url(url)
        merged = self._urls.get(url)
        if merged is None:
            if len(self._urls) >= URL_CACHE_SIZE:
                self._urls.clear()
            merged = self._urls[url] = super()._merge_url(url)
        return merged


def make_fast_client() -> httpx.AsyncClient:
    """The gateway's outbound client: pooled, HTTP/1.1, never follows redirects."""
    return GatewayClient(
        transport=FastTransport(),
        timeout=httpx.Timeout(60.0, connect=10.0),
        follow_redirects=False,
        trust_env=False,
    )
