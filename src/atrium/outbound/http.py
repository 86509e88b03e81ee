"""The one way adapters talk HTTP: a shared pooled client, request helpers, stream parsers.

Every request goes through `send` or `open_stream`, which apply the target's timeout and
custom headers, mark whether private addresses are allowed, and turn transport failures and
error answers into UpstreamError / UpstreamTimeout with the provider's own message.
"""

import functools
import http.cookiejar
import json as jsonlib
import re
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from typing import Any, NoReturn

import httpcore
import httpx

from atrium.outbound.target import ProviderTarget, UpstreamBlocked, UpstreamError, UpstreamTimeout
from atrium.outbound.transport import ALLOW_PRIVATE, Answer, LeanTransport, Origin
from atrium.security.ssrf import BlockedAddress, GuardedNetworkBackend

CONNECT_TIMEOUT = 10.0
ERROR_TEXT_LIMIT = 500
STOCK_LIMITS = httpx.Limits(max_connections=200, max_keepalive_connections=50, keepalive_expiry=30)


@functools.cache
def _ssl_context() -> ssl.SSLContext:
    """One verifying TLS context for all clients (loading the CA bundle takes ~0.1 s)."""
    return httpx.create_ssl_context()


class _GuardedHTTPTransport(httpx.AsyncHTTPTransport):
    def __init__(self, limits: httpx.Limits) -> None:
        super().__init__(verify=_ssl_context(), limits=limits)
        # httpx offers no public hook for a network backend, so the pool it built is replaced
        # by an identical one whose connections pass through the SSRF check.
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=_ssl_context(),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            http1=True,
            http2=False,
            network_backend=GuardedNetworkBackend(),
        )


class ProviderTransport(httpx.AsyncBaseTransport):
    """httpx's own transport, kept for the bench's comparison (`stock_libraries=httpx`):
    each request goes to a guarded pool, or to an open one when the request allows it.

    Guarded is the default, so a request that forgets to say anything is checked.
    """

    def __init__(self, limits: httpx.Limits) -> None:
        self.guarded = _GuardedHTTPTransport(limits)
        self.open = httpx.AsyncHTTPTransport(verify=_ssl_context(), limits=limits)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        transport = self.open if request.extensions.get(ALLOW_PRIVATE) else self.guarded
        return await transport.handle_async_request(request)

    async def aclose(self) -> None:
        await self.guarded.aclose()
        await self.open.aclose()


class _NoCookies(http.cookiejar.CookieJar):
    """Providers get no cookies and keep none: nothing one caller's call sets reaches another's."""

    def extract_cookies(self, response: Any, request: Any) -> None:
        return None

    def add_cookie_header(self, request: Any) -> None:
        return None


class ProviderClient(httpx.AsyncClient):
    """The shared outbound client. `lean` is its transport when that is the lean one: the
    gateway's hot path (`post_bytes`, `open_byte_stream`) hands it prebuilt request bytes,
    without httpx's request, URL, cookie and response objects (most of a proxied call's
    outbound CPU); everything else goes through httpx as usual."""

    def __init__(self, *, transport: httpx.AsyncBaseTransport, **options: Any) -> None:
        super().__init__(transport=transport, **options)
        self.lean = transport if isinstance(transport, LeanTransport) else None


def make_client(*, stock: bool = False) -> httpx.AsyncClient:
    """The shared outbound client for providers: pooled, HTTP/1.1, never follows redirects,
    on the lean transport (`stock`: on httpx's own, for the bench's comparison).

    Environment proxies and .netrc are ignored (a proxy would defeat the SSRF check); the
    environment's CA bundle (SSL_CERT_FILE, SSL_CERT_DIR) is honoured.
    """
    if stock:
        limits = httpx.Limits(
            max_connections=200, max_keepalive_connections=50, keepalive_expiry=30.0
        )
        transport: httpx.AsyncBaseTransport = ProviderTransport(limits)
    else:
        transport = LeanTransport(ssl_context=_ssl_context())
    return ProviderClient(
        transport=transport,
        cookies=_NoCookies(),
        timeout=httpx.Timeout(60.0, connect=CONNECT_TIMEOUT),
        follow_redirects=False,
        trust_env=False,
    )


def _build_request(
    client: httpx.AsyncClient,
    target: ProviderTarget,
    method: str,
    url: str,
    *,
    json: Any = None,
    content: bytes | None = None,
    params: Mapping[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
) -> httpx.Request:
    return client.build_request(
        method,
        url,
        json=json,
        content=content,
        params=params,
        headers={**(headers or {}), **target.headers},
        timeout=httpx.Timeout(target.timeout, connect=min(target.timeout, CONNECT_TIMEOUT)),
        extensions={ALLOW_PRIVATE: target.allow_private},
    )


@functools.lru_cache(maxsize=1024)
def _host_of(url: str) -> str:
    try:
        return httpx.URL(url).host or url
    except httpx.InvalidURL:
        return url


@contextmanager
def mapped_errors(target: ProviderTarget, url: str) -> Iterator[None]:
    host = _host_of(url)
    try:
        yield
    except BlockedAddress as exc:
        raise UpstreamBlocked(str(exc)) from exc
    except httpx.ConnectTimeout as exc:
        raise UpstreamTimeout(f"timed out connecting to {host}") from exc
    except httpx.TimeoutException as exc:
        raise UpstreamTimeout(
            f"{target.type} provider at {host} did not answer within {target.timeout:g} s"
        ) from exc
    except httpx.ConnectError as exc:
        raise UpstreamError(f"could not connect to {host}: {_describe(exc)}") from exc
    except httpx.TransportError as exc:
        raise UpstreamError(f"connection to {host} failed: {_describe(exc)}") from exc
    except httpx.InvalidURL as exc:
        raise UpstreamError(f"invalid provider URL {url!r}: {exc}") from exc


def _describe(exc: Exception) -> str:
    return str(exc) or type(exc).__name__


def provider_message(body: Any) -> str | None:
    """The human message inside a provider's error body, whatever the provider's shape."""
    if isinstance(body, list) and body:
        return provider_message(body[0])  # Gemini streams errors as a one-item array
    if not isinstance(body, dict):
        return None
    error = body.get("error")
    if isinstance(error, dict):  # OpenAI, Anthropic, Google
        message = error.get("message")
        status = error.get("status")
        if message and isinstance(status, str):
            return f"{message} ({status})"
        return str(message) if message else None
    if isinstance(error, str) and error:  # Ollama
        return error
    for key in ("message", "detail", "title"):  # Cohere, Replicate
        value = body.get(key)
        if isinstance(value, str) and value:
            return value
    return None


def status_error(target: ProviderTarget, response: httpx.Response) -> UpstreamError:
    status = response.status_code
    if response.is_redirect:
        location = response.headers.get("location", "?")
        return UpstreamError(
            f"{target.type} provider redirected to {location}; redirects are not followed, "
            "so set the API base to the final address",
            upstream_status=status,
        )
    try:
        message = provider_message(response.json())
    except ValueError:
        message = None
    if not message:
        message = response.text.strip()[:ERROR_TEXT_LIMIT] or response.reason_phrase
    return UpstreamError(
        f"{target.type} provider returned HTTP {status}: {message}", upstream_status=status
    )


def _failed(response: httpx.Response) -> bool:
    return response.is_error or response.is_redirect


async def send(
    client: httpx.AsyncClient,
    target: ProviderTarget,
    method: str,
    url: str,
    *,
    json: Any = None,
    params: Mapping[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
) -> Any:
    """Send one request and return its JSON body; errors become UpstreamError."""
    request = _build_request(client, target, method, url, json=json, params=params, headers=headers)
    with mapped_errors(target, url):
        response = await client.send(request)
    if _failed(response):
        raise status_error(target, response)
    try:
        return response.json()
    except ValueError as exc:
        raise UpstreamError(
            f"{target.type} provider sent an unreadable reply (not JSON)",
            upstream_status=response.status_code,
        ) from exc


@asynccontextmanager
async def open_stream(
    client: httpx.AsyncClient,
    target: ProviderTarget,
    method: str,
    url: str,
    *,
    json: Any = None,
    content: bytes | None = None,
    headers: Mapping[str, str] | None = None,
) -> AsyncIterator[httpx.Response]:
    """Open a streamed response; failures while it is read are mapped as well."""
    request = _build_request(
        client, target, method, url, json=json, content=content, headers=headers
    )
    with mapped_errors(target, url):
        response = await client.send(request, stream=True)
        try:
            if _failed(response):
                await response.aread()
                raise status_error(target, response)
            yield response
        finally:
            await response.aclose()


# --- the gateway's hot path: prebuilt bytes on the lean transport -----------------------

REDIRECTS = frozenset((301, 302, 303, 307, 308))
# what httpx's client sends unless the request says otherwise, so both paths look the same
DEFAULT_HEADERS = {
    "accept": ("Accept", "*/*"),
    "accept-encoding": ("Accept-Encoding", "gzip, deflate"),
    "connection": ("Connection", "keep-alive"),
    "user-agent": ("User-Agent", f"python-httpx/{httpx.__version__}"),
}
HEADER_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")


@functools.lru_cache(maxsize=1024)
def _endpoint(url: str) -> tuple[str, str, int, str, str]:
    """(scheme, host, port, Host header, request target) of a URL, parsed once."""
    parsed = httpx.URL(url)
    if parsed.scheme not in ("http", "https"):
        raise httpx.UnsupportedProtocol(f"unsupported URL scheme {parsed.scheme!r}")
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    target = (parsed.raw_path or b"/").decode("ascii")
    return parsed.scheme, parsed.host, port, parsed.netloc.decode("ascii"), target


def _request_bytes(
    method: str, host: str, target: str, headers: Mapping[str, str], content: bytes
) -> bytes:
    fields = {"host": ("Host", host), **DEFAULT_HEADERS}
    for name, value in headers.items():
        fields[name.lower()] = (name, value if isinstance(value, str) else str(value))
    fields["content-length"] = ("Content-Length", str(len(content)))
    lines = [f"{method} {target} HTTP/1.1"]
    for name, value in fields.values():
        if "\r" in value or "\n" in value or "\0" in value or not HEADER_NAME.fullmatch(name):
            # a provider's custom header must not split the request in two
            raise UpstreamError(f"invalid request header {name!r} in the provider's settings")
        lines.append(f"{name}: {value}")
    lines.append("\r\n")
    return "\r\n".join(lines).encode() + content


async def _send_lean(
    lean: LeanTransport,
    target: ProviderTarget,
    url: str,
    content: bytes,
    headers: Mapping[str, str],
) -> Answer:
    scheme, host, port, host_header, path = _endpoint(url)
    origin: Origin = (scheme, host, port, target.allow_private)
    payload = _request_bytes("POST", host_header, path, {**headers, **target.headers}, content)
    seconds = target.timeout
    timeouts = {
        "connect": min(seconds, CONNECT_TIMEOUT),
        "read": seconds,
        "write": seconds,
        "pool": seconds,
    }
    return await lean.send(origin, payload, "POST", timeouts)


async def _error_of(target: ProviderTarget, answer: Answer) -> UpstreamError | None:
    """The error an answer's status stands for (its body read), or None."""
    status = answer.status_code
    if status < 400 and not (status in REDIRECTS and answer.header(b"location") is not None):
        return None
    body = await answer.read()
    return status_error(target, httpx.Response(status, headers=answer.headers, content=body))


async def post_bytes(
    client: httpx.AsyncClient,
    target: ProviderTarget,
    url: str,
    content: bytes,
    headers: Mapping[str, str],
) -> tuple[int, bytes]:
    """POST `content` and read the whole answer: (status, body). Error answers and transport
    failures become UpstreamError as in `send`."""
    lean = getattr(client, "lean", None)
    if lean is None:
        request = _build_request(client, target, "POST", url, content=content, headers=headers)
        with mapped_errors(target, url):
            response = await client.send(request)
        if _failed(response):
            raise status_error(target, response)
        return response.status_code, response.content
    with mapped_errors(target, url):
        answer = await _send_lean(lean, target, url, content, headers)
        error = await _error_of(target, answer)
        if error is not None:
            raise error
        body = await answer.read()
    coding = answer.header(b"content-encoding")
    if coding is not None and coding.strip().lower() != b"identity":
        # asked for identity, got it compressed anyway: httpx's decoders read it
        body = httpx.Response(answer.status_code, headers=answer.headers, content=body).read()
    return answer.status_code, body


@asynccontextmanager
async def open_byte_stream(
    client: httpx.AsyncClient,
    target: ProviderTarget,
    url: str,
    content: bytes,
    headers: Mapping[str, str],
) -> AsyncIterator[Any]:
    """POST `content` and yield the answer once its head is read; its body comes from
    `aiter_raw()` as it arrives. Errors as in `open_stream`."""
    lean = getattr(client, "lean", None)
    if lean is None:
        async with open_stream(
            client, target, "POST", url, content=content, headers=headers
        ) as response:
            yield response
        return
    with mapped_errors(target, url):
        answer = await _send_lean(lean, target, url, content, headers)
        try:
            error = await _error_of(target, answer)
            if error is not None:
                raise error
            yield answer
        finally:
            await answer.body.aclose()


@dataclass(frozen=True, slots=True)
class SSEEvent:
    event: str
    data: str


async def iter_sse(response: httpx.Response) -> AsyncIterator[SSEEvent]:
    """Server-sent events as they arrive (multi-line data joined with newlines)."""
    event, data_lines = "", []
    async for line in response.aiter_lines():
        if not line:
            if data_lines or event:
                yield SSEEvent(event or "message", "\n".join(data_lines))
            event, data_lines = "", []
        elif not line.startswith(":"):
            name, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if name == "event":
                event = value
            elif name == "data":
                data_lines.append(value)
    if data_lines:
        yield SSEEvent(event or "message", "\n".join(data_lines))


async def iter_ndjson(response: httpx.Response, target: ProviderTarget) -> AsyncIterator[Any]:
    async for line in response.aiter_lines():
        if line.strip():
            yield parse_json(line, target)


def parse_json(text: str, target: ProviderTarget) -> Any:
    try:
        return jsonlib.loads(text)
    except ValueError as exc:
        raise UpstreamError(
            f"{target.type} provider sent an unreadable stream event: {text[:200]!r}"
        ) from exc


def raise_stream_error(target: ProviderTarget, payload: Any) -> NoReturn:
    """Raise for an error reported inside a stream (after the HTTP status said 200)."""
    message = provider_message(payload) or str(payload)[:ERROR_TEXT_LIMIT]
    raise UpstreamError(f"{target.type} provider reported an error in its stream: {message}")


def join_url(base: str, path: str) -> str:
    return base.rstrip("/") + path


def api_root(base: str, *suffixes: str) -> str:
    """The base without a trailing API-version segment, so that both spellings work.

    Users paste `https://api.anthropic.com` as often as `https://api.anthropic.com/v1`.
    """
    root = base.rstrip("/")
    for suffix in suffixes:
        if root.endswith(suffix):
            return root[: -len(suffix)]
    return root


def bearer(target: ProviderTarget) -> dict[str, str]:
    return {"Authorization": f"Bearer {target.api_key}"} if target.api_key else {}


def expect_object(reply: Any, target: ProviderTarget, what: str) -> dict[str, Any]:
    """The reply as a JSON object, or an UpstreamError naming what was expected."""
    if not isinstance(reply, dict):
        raise UpstreamError(f"{target.type} provider sent an unexpected {what}")
    return reply


PageFetcher = Callable[[str | None], Awaitable[tuple[list[str], str | None]]]
MAX_PAGES = 10


async def collect_pages(fetch_page: PageFetcher) -> list[str]:
    """Items of a paginated list; fetch_page(token) returns (items, next token or None)."""
    items: list[str] = []
    token = None
    for _page in range(MAX_PAGES):
        page_items, token = await fetch_page(token)
        items += page_items
        if not token:
            break
    return items
