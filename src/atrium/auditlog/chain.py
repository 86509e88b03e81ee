"""Turning queued requests into chained rows: canonical bytes, HMACs, pseudonyms."""

import hashlib
import hmac
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode

import orjson

GENESIS = "0" * 64
# Query parameters that carry credentials (WebSocket tokens, signed links, keys): never logged.
SECRET_PARAMS = frozenset(
    {"token", "access_token", "refresh_token", "api_key", "apikey", "key", "sig", "password"}
)
# Columns the chain covers, in order; `user_id` is not one of them (it is nulled on deletion).
CHAINED = (
    "created_at",
    "actor",
    "key_id",
    "key_prefix",
    "method",
    "route",
    "path",
    "status",
    "latency_ms",
    "client",
    "user_agent",
    "request_id",
)


def clean_path(path: str, query: bytes) -> str:
    """The path with its query string, credentials removed."""
    if not query:
        return path[:2000]
    pairs = parse_qsl(query.decode("latin-1"), keep_blank_values=True)
    kept = [(name, value) for name, value in pairs if name.lower() not in SECRET_PARAMS]
    return (f"{path}?{urlencode(kept)}" if kept else path)[:2000]


def _header(headers: Iterable[tuple[bytes, bytes]], name: bytes) -> str | None:
    for key, value in headers:
        if key == name:
            return value.decode("latin-1")[:500]
    return None


class Chainer:
    """Holds the two derived keys: one for actor pseudonyms, one for row hashes."""

    def __init__(self, actor_key: bytes, chain_key: bytes) -> None:
        self.actor_key = actor_key
        self.chain = hmac.new(chain_key, digestmod=hashlib.sha256)

    def actor(self, user_id: int | None) -> str | None:
        if user_id is None:
            return None
        return hmac.new(self.actor_key, str(user_id).encode(), hashlib.sha256).hexdigest()[:32]

    def digest(self, prev_hash: str, row: dict[str, Any]) -> str:
        fields = [row[name] for name in CHAINED]
        fields[0] = row["created_at"].isoformat()
        fields[8] = f"{row['latency_ms']:.3f}"
        mac = self.chain.copy()
        mac.update(prev_hash.encode())
        mac.update(orjson.dumps(fields))
        return mac.hexdigest()

    def row(self, entry: tuple) -> dict[str, Any]:
        """A queued entry (see `AuditLogWriter.queue`) as a row without its hashes."""
        when, principal, method, route, path, query, status, latency, client, headers, rid = entry
        user_id = principal.user_id if principal is not None else None
        return {
            "created_at": datetime.fromtimestamp(when, UTC),
            "user_id": user_id,
            "actor": self.actor(user_id),
            "key_id": principal.key_id if principal is not None else None,
            "key_prefix": principal.key_prefix if principal is not None else None,
            "method": method[:10],
            "route": getattr(route, "path", None),
            "path": clean_path(path, query),
            "status": int(status),
            "latency_ms": round(float(latency), 3),
            "client": client[0][:64] if client else None,
            "user_agent": _header(headers, b"user-agent"),
            "request_id": rid,
        }
