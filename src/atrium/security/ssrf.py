"""SSRF guard for outbound calls to addresses that users choose (provider api_base).

The rule is an allowlist: every address a host resolves to must be globally routable and not
multicast, judged after unwrapping the IPv6 forms that carry an IPv4 address (IPv4-mapped,
IPv4-compatible, NAT64, 6to4, Teredo). The check runs when the TCP connection is opened, and
the connection goes to the very address that was checked, so a DNS answer that changes
between check and use (rebinding) cannot slip through. `GuardedNetworkBackend` plugs that
check into httpcore; `resolve_checked` gives the same verdict up front (e.g. when a provider
is saved) with a readable message.
"""

import ipaddress
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

import anyio
import httpcore

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

ALLOWED_SCHEMES = ("http", "https")
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_NAT64_LOCAL = ipaddress.IPv6Network("64:ff9b:1::/48")
_IPV4_COMPATIBLE = ipaddress.IPv6Network("::/96")


class BlockedAddress(ValueError):
    """The destination is not a public internet address."""


@dataclass(frozen=True, slots=True)
class ResolvedTarget:
    host: str
    port: int
    addresses: tuple[str, ...]  # checked, in the resolver's order


def validate_base_url(url: str) -> str:
    """Check the syntax of a base URL (http/https with a host); return it without trailing /."""
    cleaned = url.strip()
    parts = urlsplit(cleaned)
    if parts.scheme.lower() not in ALLOWED_SCHEMES:
        raise ValueError(f"The URL must start with http:// or https:// (got {url!r}).")
    if not parts.hostname:
        raise ValueError(f"The URL has no host name (got {url!r}).")
    if parts.username is not None or parts.password is not None:
        raise ValueError("Put credentials in the API key or custom headers, not in the URL.")
    if any(char.isspace() for char in cleaned):
        raise ValueError("The URL must not contain spaces.")
    try:
        parts.port  # noqa: B018 - raises on a malformed port
    except ValueError as exc:
        raise ValueError(f"The URL has an invalid port (got {url!r}).") from exc
    return cleaned.rstrip("/")


def embedded_ipv4(address: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """The IPv4 addresses an IPv6 address stands for (mapped, 6to4, Teredo, NAT64...)."""
    if address.ipv4_mapped is not None:
        return [address.ipv4_mapped]
    if address.sixtofour is not None:
        return [address.sixtofour]
    if address.teredo is not None:
        return list(address.teredo)
    if address in _NAT64 or address in _IPV4_COMPATIBLE:
        return [ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)]
    return []


def is_public_address(address: IPAddress | str) -> bool:
    """True when the address, and any IPv4 address it wraps, is global and not multicast."""
    ip = ipaddress.ip_address(address) if isinstance(address, str) else address
    candidates: list[IPAddress] = [ip]
    if isinstance(ip, ipaddress.IPv6Address):
        if ip in _NAT64_LOCAL:
            return False
        wrapped = embedded_ipv4(ip)
        # an IPv4-mapped address is that IPv4 address; the other forms must pass both ways
        candidates = wrapped if ip.ipv4_mapped is not None else [ip, *wrapped]
    return all(c.is_global and not c.is_multicast for c in candidates)


def check_addresses(host: str, addresses: Iterable[str]) -> tuple[str, ...]:
    checked = tuple(addresses)
    if not checked:
        raise BlockedAddress(f"{host} did not resolve to any address.")
    for address in checked:
        if not is_public_address(address):
            raise BlockedAddress(
                f"{host} resolves to {address}, which is not a public internet address; "
                "only an administrator may point a provider at a private network."
            )
    return checked


async def resolve(host: str, port: int) -> tuple[str, ...]:
    """Every address the host resolves to, in the resolver's order, without duplicates."""
    try:
        infos = await anyio.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise BlockedAddress(f"Could not resolve host {host}: {exc}") from exc
    found: dict[str, None] = {}
    for _family, _type, _proto, _canonname, sockaddr in infos:
        found[str(sockaddr[0]).split("%", 1)[0]] = None
    return tuple(found)


async def resolve_checked(url: str, *, allow_private: bool) -> ResolvedTarget:
    """Resolve the URL's host; unless allow_private, refuse any non-public address."""
    parts = urlsplit(validate_base_url(url))
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme.lower() == "https" else 80)
    addresses = await resolve(host, port)
    if not allow_private:
        check_addresses(host, addresses)
    return ResolvedTarget(host=host, port=port, addresses=addresses)


class GuardedNetworkBackend(httpcore.AsyncNetworkBackend):
    """httpcore backend that resolves, checks and connects to the checked address only.

    TLS still verifies the certificate against the original host name, because httpcore
    performs the handshake with the request's host as server name.
    """

    def __init__(self, inner: httpcore.AsyncNetworkBackend | None = None) -> None:
        self._inner = inner or httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        try:
            with anyio.fail_after(timeout):
                addresses = check_addresses(host, await resolve(host, port))
        except TimeoutError as exc:
            raise httpcore.ConnectTimeout(f"Timed out resolving {host}") from exc
        last_error: Exception | None = None
        for address in addresses:
            try:
                return await self._inner.connect_tcp(
                    address, port, timeout, local_address, socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                last_error = exc
        assert last_error is not None
        raise last_error

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise BlockedAddress("Unix sockets are not allowed for guarded connections.")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)
