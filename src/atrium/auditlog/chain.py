"""Turning queued requests into chained rows: canonical bytes, HMACs, pseudonyms."""

import hashlib
import hmac
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, urlencode

import orjson

GENESIS = "0" * 64
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
ONE_MICROSECOND = timedelta(microseconds=1)
# Query parameters that carry credentials (WebSocket tokens, signed links, keys): never logged.
SECRET_PARAMS = frozenset(
    {"token", "access_token", "refresh_token", "api_key", "apikey", "key", "sig", "password"}
)
# Columns the chain covers, in order; `user_id` is not one of them (it is nulled on deletion).
# The time is chained as integer microseconds since the epoch (exact on every backend).
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


def micros(moment: datetime) -> int:
    return (moment - EPOCH) // ONE_MICROSECOND


def moment(us: int) -> datetime:
    return EPOCH + timedelta(microseconds=us)


class Chainer:
    """Holds the two derived keys: one for actor pseudonyms, one for row hashes (keyed
    BLAKE2b: a MAC by construction, cheaper per row than HMAC-SHA256)."""

    def __init__(self, actor_key: bytes, chain_key: bytes) -> None:
        self.actor_key = actor_key
        self.chain = hashlib.blake2b(key=chain_key[:64], digest_size=32)
        self.actors: dict[int, str] = {}

    def actor(self, user_id: int | None) -> str | None:
        if user_id is None:
            return None
        found = self.actors.get(user_id)
        if found is None:
            if len(self.actors) > 100_000:
                self.actors.clear()
            digest = hmac.new(self.actor_key, str(user_id).encode(), hashlib.sha256)
            found = self.actors[user_id] = digest.hexdigest()[:32]
        return found

    def digest(self, prev_hash: str, row: dict[str, Any]) -> str:
        """`row` carries `us` (the time in microseconds) besides the chained columns."""
        fields = [row["us"], *[row[name] for name in CHAINED[1:]]]
        fields[8] = f"{row['latency_ms']:.3f}"
        mac = self.chain.copy()
        mac.update(prev_hash.encode())
        mac.update(orjson.dumps(fields))
        return mac.hexdigest()

    def row(self, entry: tuple) -> dict[str, Any]:
        """A queued entry (see `middleware._audit_entry`) as a row without its hashes."""
        (when, user_id, key_id, key_prefix, method, route, path, query, status, latency,
         client, agent, rid) = entry  # fmt: skip
        return {
            "us": int(when * 1_000_000),
            "user_id": user_id,
            "actor": self.actor(user_id),
            "key_id": key_id,
            "key_prefix": key_prefix[:32] if key_prefix else None,
            "method": method[:10],
            "route": route[:300] if route else None,
            "path": clean_path(path, query),
            "status": int(status),
            "latency_ms": round(float(latency), 3),
            "client": client[:64] if client else None,
            "user_agent": agent.decode("latin-1")[:500] if agent else None,
            "request_id": rid,
        }
