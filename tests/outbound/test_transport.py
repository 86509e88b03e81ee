"""The lean outbound transport's failure modes, against real local servers on raw sockets.

Each server is a few lines of asyncio that misbehave on purpose: close a kept-alive
connection after reading a request, count concurrent connections, never read a body.
"""

import asyncio
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import httpx
import pytest

from atrium.outbound.http import make_client, open_byte_stream, post_bytes, send
from atrium.outbound.target import ProviderTarget, UpstreamError, UpstreamTimeout
from atrium.outbound.transport import ALLOW_PRIVATE, LeanTransport

pytestmark = pytest.mark.anyio

OK = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"
GUARD_SECONDS = 30  # a broken transport fails the test instead of hanging the run


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@dataclass
class RawServer:
    """Counts what arrives; `handle` decides what each connection gets."""

    url: str = ""
    arrivals: list[str] = field(default_factory=list)  # "METHOD /path" of each request read
    open_now: int = 0
    peak_open: int = 0
    connections: int = 0
    arrived: asyncio.Event = field(default_factory=asyncio.Event)


Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter, RawServer], Awaitable[None]]


@asynccontextmanager
async def raw_server(
    handle: Handler, *, receive_buffer: int | None = None
) -> AsyncIterator[RawServer]:
    state = RawServer()

    async def on_connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        state.connections += 1
        state.open_now += 1
        state.peak_open = max(state.peak_open, state.open_now)
        try:
            await handle(reader, writer, state)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            state.open_now -= 1
            writer.close()

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if receive_buffer is not None:  # set before listen, so that accepted sockets inherit it
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
    sock.bind(("127.0.0.1", 0))
    server = await asyncio.start_server(on_connection, sock=sock)
    state.url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    async with server:
        yield state
        server.close()


async def read_request(reader: asyncio.StreamReader, state: RawServer) -> bool:
    """Read one whole request (head and body); False when the client closed instead."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError:
        return False
    request_line, *lines = head.decode("latin-1").split("\r\n")
    length = 0
    for line in lines:
        name, _, value = line.partition(":")
        if name.strip().lower() == "content-length":
            length = int(value)
    await reader.readexactly(length)
    method, path, _version = request_line.split(" ")
    state.arrivals.append(f"{method} {path}")
    state.arrived.set()
    return True


async def answer_then_close_after_reading(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, state: RawServer
) -> None:
    """Answer the first request of a connection; read the second, then hang up unanswered."""
    if await read_request(reader, state):
        writer.write(OK)
        await writer.drain()
    await read_request(reader, state)


async def allow_private(request: httpx.Request) -> None:
    request.extensions[ALLOW_PRIVATE] = True  # the servers listen on the loopback address


def production_client() -> httpx.AsyncClient:
    """The client the gateway uses (`make_client`), its requests allowed to reach loopback."""
    client = make_client()
    client.event_hooks["request"].append(allow_private)
    return client


def lean_client(**options: int) -> httpx.AsyncClient:
    transport = LeanTransport(**options)
    hooks = {"request": [allow_private]}
    return httpx.AsyncClient(transport=transport, timeout=GUARD_SECONDS, event_hooks=hooks)


async def test_a_post_is_never_sent_twice_when_a_kept_alive_connection_closes() -> None:
    async with raw_server(answer_then_close_after_reading) as server, production_client() as client:
        assert (await client.get(f"{server.url}/warm")).status_code == 200
        with pytest.raises(httpx.RemoteProtocolError, match="not sent again"):
            await client.post(f"{server.url}/v1/chat/completions", json={"model": "m"})
    assert server.arrivals == ["GET /warm", "POST /v1/chat/completions"]


async def test_the_caller_is_told_the_post_may_have_been_processed() -> None:
    target = ProviderTarget(type="openai", api_base="", api_key=None, allow_private=True)
    async with raw_server(answer_then_close_after_reading) as server, production_client() as client:
        await send(client, target, "GET", f"{server.url}/warm")
        with pytest.raises(UpstreamError, match="may have acted on it"):
            await send(client, target, "POST", f"{server.url}/v1/chat/completions", json={})
    assert server.arrivals.count("POST /v1/chat/completions") == 1


async def test_a_get_is_retried_once_on_another_connection() -> None:
    async with raw_server(answer_then_close_after_reading) as server, production_client() as client:
        assert (await client.get(f"{server.url}/warm")).status_code == 200
        assert (await client.get(f"{server.url}/v1/models")).status_code == 200
    assert server.arrivals == ["GET /warm", "GET /v1/models", "GET /v1/models"]
    assert server.connections == 2


async def test_an_idle_connection_the_server_closed_is_not_written_to() -> None:
    closed = asyncio.Event()

    async def answer_once_then_close(reader, writer, state) -> None:
        if await read_request(reader, state):
            writer.write(OK)
            await writer.drain()
        writer.close()
        await writer.wait_closed()
        closed.set()
        await read_request(reader, state)  # nothing: the connection is gone

    async with raw_server(answer_once_then_close) as server, production_client() as client:
        assert (await client.get(f"{server.url}/warm")).status_code == 200
        await closed.wait()
        answer = await client.post(f"{server.url}/v1/chat/completions", json={})
        assert answer.status_code == 200
    assert server.arrivals == ["GET /warm", "POST /v1/chat/completions"]
    assert server.connections == 2


async def test_connections_per_origin_are_capped_and_later_requests_queue() -> None:
    async def answer_slowly(reader, writer, state) -> None:
        while await read_request(reader, state):
            await asyncio.sleep(0.02)  # so that the requests overlap; any delay would do
            writer.write(OK)
            await writer.drain()

    async with raw_server(answer_slowly) as server, lean_client(max_connections=2) as client:
        answers = await asyncio.gather(*(client.get(f"{server.url}/{n}") for n in range(6)))
    assert [a.status_code for a in answers] == [200] * 6
    assert len(server.arrivals) == 6
    assert server.peak_open == 2


async def hold_forever(reader, writer, state) -> None:
    await read_request(reader, state)
    await asyncio.Event().wait()


async def test_a_request_waiting_for_a_connection_times_out() -> None:
    async with raw_server(hold_forever) as server, lean_client(max_connections=1) as client:
        first = asyncio.create_task(client.get(f"{server.url}/held"))
        await server.arrived.wait()
        with pytest.raises(httpx.PoolTimeout):
            await client.get(f"{server.url}/queued", timeout=httpx.Timeout(30, pool=0.1))
        first.cancel()
    assert server.arrivals == ["GET /held"]


async def test_a_cancelled_request_gives_its_connection_slot_back() -> None:
    async def hold_the_first(reader, writer, state) -> None:
        while await read_request(reader, state):
            if len(state.arrivals) == 1:
                await asyncio.Event().wait()
            writer.write(OK)
            await writer.drain()

    async with raw_server(hold_the_first) as server, lean_client(max_connections=1) as client:
        first = asyncio.create_task(client.get(f"{server.url}/cancelled"))
        await server.arrived.wait()
        first.cancel()
        answer = await client.get(f"{server.url}/next", timeout=httpx.Timeout(30, pool=5))
    assert answer.status_code == 200
    assert server.arrivals == ["GET /cancelled", "GET /next"]


async def test_a_server_that_never_reads_the_body_is_a_write_timeout() -> None:
    async def never_read(reader, writer, state) -> None:
        await asyncio.Event().wait()

    body = b"x" * (32 * 1024 * 1024)  # far beyond both sockets' buffers
    async with raw_server(never_read, receive_buffer=4096) as server, production_client() as client:
        async with asyncio.timeout(GUARD_SECONDS):
            with pytest.raises(httpx.WriteTimeout):
                await client.post(server.url, content=body, timeout=httpx.Timeout(30, write=0.2))


async def test_the_write_timeout_reaches_the_caller_as_an_upstream_timeout() -> None:
    async def never_read(reader, writer, state) -> None:
        await asyncio.Event().wait()

    target = ProviderTarget(
        type="custom", api_base="", api_key=None, timeout=0.2, allow_private=True
    )
    payload = {"text": "x" * (32 * 1024 * 1024)}
    async with raw_server(never_read, receive_buffer=4096) as server, production_client() as client:
        async with asyncio.timeout(GUARD_SECONDS):
            with pytest.raises(UpstreamTimeout):
                await send(client, target, "POST", server.url, json=payload)


async def test_a_server_that_never_answers_is_a_read_timeout() -> None:
    async with raw_server(hold_forever) as server, production_client() as client:
        with pytest.raises(httpx.ReadTimeout):
            await client.get(server.url, timeout=httpx.Timeout(30, read=0.1))


async def test_a_body_cut_short_is_a_protocol_error() -> None:
    async def cut_short(reader, writer, state) -> None:
        await read_request(reader, state)
        writer.write(b'HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{"partial"')
        await writer.drain()

    async with raw_server(cut_short) as server, production_client() as client:
        with pytest.raises(httpx.RemoteProtocolError, match="mid-response"):
            await client.get(server.url)


async def test_a_malformed_answer_is_a_protocol_error() -> None:
    async def garbage(reader, writer, state) -> None:
        await read_request(reader, state)
        writer.write(b"SMTP ready\r\n\r\n")
        await writer.drain()

    async with raw_server(garbage) as server, production_client() as client:
        with pytest.raises(httpx.RemoteProtocolError, match="malformed"):
            await client.get(server.url)


async def test_a_connection_is_reused_for_the_next_request() -> None:
    async def keep_answering(reader, writer, state) -> None:
        while await read_request(reader, state):
            writer.write(OK)
            await writer.drain()

    async with raw_server(keep_answering) as server, production_client() as client:
        for n in range(3):
            assert (await client.get(f"{server.url}/{n}")).status_code == 200
    assert server.connections == 1


async def test_a_streamed_body_left_unread_is_drained_and_the_connection_reused() -> None:
    chunks = b"5\r\nhello\r\n5\r\nworld\r\n0\r\n\r\n"

    async def stream_in_two(reader, writer, state) -> None:
        while await read_request(reader, state):
            writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + chunks[:10])
            await writer.drain()
            await asyncio.sleep(0)
            writer.write(chunks[10:])
            await writer.drain()

    async with raw_server(stream_in_two) as server, production_client() as client:
        async with client.stream("GET", f"{server.url}/first") as response:
            async for _piece in response.aiter_raw():
                break  # the reader stops early, as a relay does at `[DONE]`
        answer = await client.get(f"{server.url}/second")
    assert answer.text == "helloworld"
    assert server.arrivals == ["GET /first", "GET /second"]


async def test_unknown_schemes_are_refused() -> None:
    async with make_client() as client:
        with pytest.raises(httpx.UnsupportedProtocol):
            await client.get("ftp://127.0.0.1/", extensions={ALLOW_PRIVATE: True})


# --- the gateway's byte path (post_bytes, open_byte_stream) on the same transport ---------

TARGET = ProviderTarget(type="openai", api_base="", api_key="k", allow_private=True)


async def test_the_byte_path_never_sends_a_post_twice() -> None:
    async with raw_server(answer_then_close_after_reading) as server, make_client() as client:
        status, body = await post_bytes(client, TARGET, f"{server.url}/warm", b"{}", {})
        assert (status, body) == (200, b"{}")
        with pytest.raises(UpstreamError, match="may have acted on it"):
            await post_bytes(client, TARGET, f"{server.url}/v1/chat/completions", b"{}", {})
    assert server.arrivals == ["POST /warm", "POST /v1/chat/completions"]


async def test_the_byte_path_reuses_its_connection_and_streams() -> None:
    async def answer_each(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, state: RawServer
    ) -> None:
        while await read_request(reader, state):
            writer.write(OK)
            await writer.drain()

    async with raw_server(answer_each) as server, make_client() as client:
        url = f"{server.url}/v1/chat/completions"
        for _ in range(3):
            assert await post_bytes(client, TARGET, url, b"{}", {}) == (200, b"{}")
        async with open_byte_stream(client, TARGET, url, b"{}", {}) as answer:
            assert b"".join([piece async for piece in answer.aiter_raw()]) == b"{}"
    assert server.connections == 1 and len(server.arrivals) == 4


async def test_the_byte_path_maps_timeouts_and_error_answers() -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, state) -> None:
        await read_request(reader, state)
        await asyncio.sleep(GUARD_SECONDS)

    async def refuse(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, state) -> None:
        await read_request(reader, state)
        body = b'{"error": {"message": "no such model"}}'
        writer.write(b"HTTP/1.1 404 Not Found\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
        await writer.drain()

    quick = ProviderTarget(
        type="openai", api_base="", api_key=None, timeout=0.3, allow_private=True
    )
    async with raw_server(silent) as server, make_client() as client:
        with pytest.raises(UpstreamTimeout):
            await post_bytes(client, quick, f"{server.url}/x", b"{}", {})
    async with raw_server(refuse) as server, make_client() as client:
        with pytest.raises(UpstreamError, match="HTTP 404: no such model") as caught:
            await post_bytes(client, TARGET, f"{server.url}/x", b"{}", {})
    assert caught.value.upstream_status == 404


async def test_a_header_that_would_split_the_request_is_refused() -> None:
    async with raw_server(answer_then_close_after_reading) as server, make_client() as client:
        with pytest.raises(UpstreamError, match="invalid request header"):
            headers = {"X-Tag": "a\r\nX-Injected: 1"}
            await post_bytes(client, TARGET, f"{server.url}/x", b"{}", headers)
    assert server.arrivals == []
