"""What the host's network and HTTPS actually are (read, never changed)."""

import socket
import ssl
from datetime import UTC
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import psutil

TLS_TIMEOUT = 3.0


def _default_route() -> tuple[str | None, str | None]:
    """(interface, gateway) of the IPv4 default route, from /proc/net/route."""
    try:
        lines = Path("/proc/net/route").read_text().splitlines()[1:]
    except OSError:
        return None, None
    for line in lines:
        fields = line.split()
        if len(fields) > 2 and fields[1] == "00000000":
            gateway = socket.inet_ntoa(int(fields[2], 16).to_bytes(4, "little"))
            return fields[0], gateway
    return None, None


def _dns_servers() -> list[str]:
    try:
        lines = Path("/etc/resolv.conf").read_text().splitlines()
    except OSError:
        return []
    return [
        line.split()[1] for line in lines if line.startswith("nameserver") and len(line.split()) > 1
    ]


def network() -> dict[str, Any]:
    interface, gateway = _default_route()
    address = netmask = ""
    for entry in psutil.net_if_addrs().get(interface or "", []):
        if entry.family == socket.AF_INET:
            address, netmask = entry.address, entry.netmask or ""
            break
    return {
        "hostname": socket.gethostname(),
        "ip_address": address,
        "subnet_mask": netmask,
        "gateway": gateway or "",
        "dns_servers": _dns_servers(),
        # whether the address came from DHCP is the host's business, not visible from here
        "network_mode": "unknown",
    }


def tls_of(base_url: str | None) -> dict[str, Any]:
    """The certificate served at the public base URL when it is https, else not enabled."""
    empty = {
        "enabled": False,
        "self_signed": False,
        "issuer": None,
        "expires": None,
        "serial": None,
    }
    if not base_url or not base_url.startswith("https://"):
        return {**empty, "detail": "Atrium does not terminate TLS; no https public base URL is set"}
    parts = urlsplit(base_url)
    host, port = parts.hostname or "", parts.port or 443
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    try:
        with (
            socket.create_connection((host, port), timeout=TLS_TIMEOUT) as raw,
            context.wrap_socket(raw, server_hostname=host) as wrapped,
        ):
            der = wrapped.getpeercert(binary_form=True)
    except OSError as exc:
        return {**empty, "detail": f"{host}:{port} did not complete a TLS handshake ({exc})"}
    from cryptography import x509

    certificate = x509.load_der_x509_certificate(der)
    return {
        "enabled": True,
        "self_signed": certificate.issuer == certificate.subject,
        "issuer": certificate.issuer.rfc4514_string(),
        "expires": certificate.not_valid_after_utc.astimezone(UTC)
        .isoformat()
        .replace("+00:00", "Z"),
        "serial": format(certificate.serial_number, "x"),
        "detail": f"served at {host}:{port}",
    }
