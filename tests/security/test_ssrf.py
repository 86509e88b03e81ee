"""The SSRF guard: which addresses pass, how URLs are checked, and that connections are pinned."""

import socket
from typing import Any

import anyio
import httpcore
import httpx
import pytest

from atrium.outbound.http import make_client
from atrium.security import ssrf
from atrium.security.ssrf import (
    BlockedAddress,
    GuardedNetworkBackend,
    is_public_address,
    resolve_checked,
    validate_base_url,
)
from tests.gateway.upstreams import OpenAIUpstream, serve_app

pytestmark = pytest.mark.anyio

TEREDO_TO_LOOPBACK = "2001:0:4136:e378:8000:63bf:80ff:fffe"  # client 127.0.0.1 (obfuscated)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "10.1.2.3",
        "172.16.0.1",
        "192.168.1.1",
        "169.254.169.254",
        "100.64.0.1",
        "0.0.0.0",
        "255.255.255.255",
        "224.0.0.1",
        "::1",
        "::",
        "fe80::1",
        "fc00::1",
        "ff02::1",
        "::ffff:127.0.0.1",
        "::ffff:10.0.0.1",
        "::ffff:169.254.169.254",
        "2002:7f00:1::",
        "2002:a00:1::1",
        TEREDO_TO_LOOPBACK,
        "64:ff9b::7f00:1",
        "64:ff9b:1::8.8.8.8",
        "::7f00:1",
    ],
)
def test_non_public_addresses_are_refused(address: str) -> None:
    assert not is_public_address(address)


@pytest.mark.parametrize(
    "address", ["8.8.8.8", "1.1.1.1", "2606:4700:4700::1111", "::ffff:8.8.8.8", "64:ff9b::808:808"]
)
def test_public_addresses_pass(address: str) -> None:
    assert is_public_address(address)


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:11434",
        "http://10.0.0.5/v1",
        "http://169.254.169.254/latest/meta-data",
        "http://[::ffff:127.0.0.1]/",
        "http://[2002:7f00:1::]/",
        f"http://[{TEREDO_TO_LOOPBACK}]/",
        "http://224.0.0.1/",
        "http://[ff02::1]/",
        "http://2130706433/",  # 127.0.0.1 as one decimal number
        "http://0x7f.1/",
    ],
)
async def test_private_urls_are_refused_unless_allowed(url: str) -> None:
    with pytest.raises(BlockedAddress, match="not a public internet address"):
        await resolve_checked(url, allow_private=False)
    resolved = await resolve_checked(url, allow_private=True)
    assert resolved.addresses


async def test_localhost_by_name_is_refused() -> None:
    with pytest.raises(BlockedAddress, match="localhost resolves to"):
        await resolve_checked("http://localhost:8000/v1", allow_private=False)
    resolved = await resolve_checked("http://localhost:8000/v1", allow_private=True)
    assert resolved.host == "localhost" and resolved.port == 8000


async def test_public_address_passes_and_reports_its_port() -> None:
    resolved = await resolve_checked("https://8.8.8.8/v1", allow_private=False)
    assert resolved.addresses == ("8.8.8.8",) and resolved.port == 443


def fake_resolver(answers: dict[str, list[str]]) -> Any:
    async def getaddrinfo(host: str, port: int, **_: Any) -> list[Any]:
        if host not in answers:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return [
            (socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port))
            for a in answers[host]
        ]

    return getaddrinfo


async def test_every_resolved_address_must_be_public(monkeypatch: pytest.MonkeyPatch) -> None:
    resolver = fake_resolver({"mixed.example": ["93.184.216.34", "10.0.0.7"]})
    monkeypatch.setattr(ssrf.anyio, "getaddrinfo", resolver)
    with pytest.raises(BlockedAddress, match=r"10\.0\.0\.7"):
        await resolve_checked("https://mixed.example/v1", allow_private=False)


async def test_unresolvable_host_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ssrf.anyio, "getaddrinfo", fake_resolver({}))
    with pytest.raises(BlockedAddress, match=r"Could not resolve host nowhere\.invalid"):
        await resolve_checked("https://nowhere.invalid", allow_private=False)


async def test_connection_goes_to_the_checked_address_with_the_original_host(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The guarded backend resolves the name itself and connects to what it checked."""
    checked: list[tuple[str, ...]] = []

    def accept_and_remember(host: str, addresses: Any) -> tuple[str, ...]:
        checked.append(tuple(addresses))
        return tuple(addresses)

    monkeypatch.setattr(ssrf.anyio, "getaddrinfo", fake_resolver({"api.fake.test": ["127.0.0.1"]}))
    monkeypatch.setattr(ssrf, "check_addresses", accept_and_remember)
    fake = OpenAIUpstream()
    with serve_app(fake.app) as base:
        port = httpx.URL(base).port
        pool = httpcore.AsyncConnectionPool(network_backend=GuardedNetworkBackend())
        async with pool:
            response = await pool.request("GET", f"http://api.fake.test:{port}/v1/models")
    assert response.status == 401  # reached the fake, which wants a key
    assert checked == [("127.0.0.1",)]
    assert fake.last.headers["host"] == f"api.fake.test:{port}"


async def test_guarded_backend_refuses_before_connecting() -> None:
    fake = OpenAIUpstream()
    with serve_app(fake.app) as base:
        pool = httpcore.AsyncConnectionPool(network_backend=GuardedNetworkBackend())
        async with pool:
            with pytest.raises(BlockedAddress):
                await pool.request("GET", f"{base}/v1/models")
    assert fake.requests == []


async def test_slow_resolution_is_a_connect_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    async def hanging(*_: Any, **__: Any) -> list[Any]:
        await anyio.sleep(5)
        return []

    monkeypatch.setattr(ssrf.anyio, "getaddrinfo", hanging)
    with pytest.raises(httpcore.ConnectTimeout):
        await GuardedNetworkBackend().connect_tcp("slow.example", 443, timeout=0.05)


# --- the same, through the client the gateway and the adapters use ------------------


async def test_production_client_connects_to_the_checked_address_with_the_original_host(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    checked: list[tuple[str, ...]] = []

    def accept_and_remember(host: str, addresses: Any) -> tuple[str, ...]:
        checked.append(tuple(addresses))
        return tuple(addresses)

    monkeypatch.setattr(ssrf.anyio, "getaddrinfo", fake_resolver({"api.fake.test": ["127.0.0.1"]}))
    monkeypatch.setattr(ssrf, "check_addresses", accept_and_remember)
    fake = OpenAIUpstream()
    with serve_app(fake.app) as base:
        port = httpx.URL(base).port
        async with make_client() as client:
            response = await client.get(f"http://api.fake.test:{port}/v1/models")
    assert response.status_code == 401  # reached the fake, which wants a key
    assert checked == [("127.0.0.1",)]
    assert fake.last.headers["host"] == f"api.fake.test:{port}"


async def test_production_client_refuses_before_connecting() -> None:
    fake = OpenAIUpstream()
    with serve_app(fake.app) as base:
        async with make_client() as client:
            with pytest.raises(BlockedAddress):
                await client.get(f"{base}/v1/models")
    assert fake.requests == []


async def test_production_client_checks_every_resolved_address(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    resolver = fake_resolver({"mixed.example": ["93.184.216.34", "127.0.0.1"]})
    monkeypatch.setattr(ssrf.anyio, "getaddrinfo", resolver)
    async with make_client() as client:
        with pytest.raises(BlockedAddress, match=r"127\.0\.0\.1"):
            await client.get("http://mixed.example/v1/models")


async def test_production_client_slow_resolution_is_a_connect_timeout(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def hanging(*_: Any, **__: Any) -> list[Any]:
        await anyio.sleep(5)
        return []

    monkeypatch.setattr(ssrf.anyio, "getaddrinfo", hanging)
    async with make_client() as client:
        with pytest.raises(httpx.ConnectTimeout):
            await client.get("https://slow.example/", timeout=httpx.Timeout(5, connect=0.05))


@pytest.mark.parametrize(
    ("url", "cleaned"),
    [
        ("https://api.openai.com/v1/", "https://api.openai.com/v1"),
        ("  http://10.0.0.5:8000/v1 ", "http://10.0.0.5:8000/v1"),
        ("HTTPS://api.anthropic.com", "HTTPS://api.anthropic.com"),
        ("http://[::1]:11434", "http://[::1]:11434"),
    ],
)
def test_valid_base_urls(url: str, cleaned: str) -> None:
    assert validate_base_url(url) == cleaned


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://example.com", "must start with http:// or https://"),
        ("file:///etc/passwd", "must start with http:// or https://"),
        ("api.openai.com/v1", "must start with http:// or https://"),
        ("http://", "has no host name"),
        ("http://user:secret@example.com", "not in the URL"),
        ("http://example.com:99999", "invalid port"),
        ("http://exa mple.com", "must not contain spaces"),
    ],
)
def test_invalid_base_urls(url: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        validate_base_url(url)
