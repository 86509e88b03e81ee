"""Turning queued requests into chained rows: canonical bytes, MACs, pseudonyms.

A row's `hash` is keyed BLAKE2b over the previous row's hash (hex) followed by the canonical
JSON of its chained fields; the time is chained as integer microseconds since the epoch
(exact on every backend) and the latency with three decimals.
"""

import hashlib
import hmac
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qsl, urlencode

GENESIS = "0" * 64
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
ONE_MICROSECOND = timedelta(microseconds=1)
# Query parameters that carry credentials (WebSocket tokens, signed links, keys): never logged.
SECRET_PARAMS = frozenset(
    {"token", "access_token", "refresh_token", "api_key", "apikey", "key", "sig", "password"}
)
# Stored columns of a row, in order, before `prev_hash` and `hash`; the chain covers all but
# `user_id` (nulled when the user is deleted), with `created_at` as microseconds.
STORED = (
    "created_at",
    "user_id",
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
CHAINED = tuple(name for name in STORED if name != "user_id")
COLUMNS = (*STORED, "prev_hash", "hash")


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


class SqliteTimes:
    """SQLite's stored form of a UTC time ('YYYY-MM-DD HH:MM:SS.ffffff', as SQLAlchemy
    writes it) to and from microseconds. Writing formats the date and time once per second
    (a batch holds many requests of the same second); reading parses the date once per day
    (stored rows may be seconds apart, which would defeat a per-second cache)."""

    def __init__(self) -> None:
        self.second: tuple[int, str] = (-1, "")  # one tuple: threads may share an instance
        self.days: dict[str, int] = {}

    def text(self, us: int) -> str:
        second, fraction = divmod(us, 1_000_000)
        cached = self.second
        if cached[0] != second:
            prefix = (EPOCH + timedelta(seconds=second)).strftime("%Y-%m-%d %H:%M:%S.")
            cached = self.second = (second, prefix)
        return f"{cached[1]}{fraction:06d}"

    def micros(self, text: str) -> int:
        """Raises ValueError on anything but the stored form."""
        day = self.days.get(text[:10])
        if day is None:
            if len(self.days) > 10_000:
                self.days.clear()
            parsed = datetime.strptime(text[:10], "%Y-%m-%d").replace(tzinfo=UTC)
            day = self.days[text[:10]] = (parsed - EPOCH).days
        if len(text) != 26 or text[10] != " ":
            raise ValueError(f"not a stored time: {text!r}")
        seconds = int(text[11:13]) * 3600 + int(text[14:16]) * 60 + int(text[17:19])
        return (day * 86_400 + seconds) * 1_000_000 + int(text[20:26])


class Chainer:
    """Holds the two derived keys: one for actor pseudonyms, one for row hashes (keyed
    BLAKE2b: a MAC by construction, cheaper per row than HMAC-SHA256)."""

    def __init__(self, actor_key: bytes, chain_key: bytes) -> None:
        self.actor_key = actor_key
        self.chain = hashlib.blake2b(key=chain_key[:64], digest_size=32)
        self.actors: dict[int, str] = {}
        self.agents: dict[bytes, str] = {}

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

    def agent(self, raw: bytes | None) -> str | None:
        """User agents repeat: decoded and cut once each."""
        if not raw:
            return None
        found = self.agents.get(raw)
        if found is None:
            if len(self.agents) > 10_000:
                self.agents.clear()
            found = self.agents[raw] = raw.decode("latin-1")[:500]
        return found

    def mac(self, prev_hash: str, payload: bytes) -> str:
        mac = self.chain.copy()
        mac.update(prev_hash.encode() + payload)
        return mac.hexdigest()

    def link(self, payloads: list[bytes], prev_hash: str) -> list[str]:
        """The hashes of consecutive rows after `prev_hash` (each `mac` of the one before),
        in one loop with everything bound locally."""
        new, hashes = self.chain.copy, []
        add = hashes.append
        for payload in payloads:
            mac = new()
            mac.update(prev_hash.encode() + payload)
            prev_hash = mac.hexdigest()
            add(prev_hash)
        return hashes
