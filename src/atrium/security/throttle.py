"""Login throttling: failures counted per (account, client address) and per address.

Counting per (account, address) rather than per account means that nobody can lock a known
account out from elsewhere; the per-address count (a larger allowance) slows one client that
tries many accounts. Past the allowance, each further failure doubles the wait.
"""

import ipaddress
import math
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from atrium.errors import TooManyRequests

MAX_DELAY_SECONDS = 3600.0
BASE_DELAY_SECONDS = 1.0
ADDRESS_FACTOR = 5  # an address may fail this many times the per-account allowance
FORGET_AFTER_SECONDS = 3600.0
REDIS_PREFIX = "atrium:login:"


class LoginThrottled(TooManyRequests):
    code = "login_throttled"
    detail = "Too many failed sign-in attempts; retry later"


@dataclass(slots=True)
class _Counter:
    failures: int = 0
    locked_until: float = 0.0
    last_failure: float = 0.0


def _delay(excess: int) -> float:
    return min(BASE_DELAY_SECONDS * 2 ** min(excess, 20), MAX_DELAY_SECONDS)


def _keys(account: str, address: str) -> tuple[tuple[str, str], tuple[str, str]]:
    return (account.strip().lower(), address), ("", address)


def _throttled(wait_seconds: float) -> LoginThrottled:
    wait = max(1, math.ceil(wait_seconds))
    return LoginThrottled(headers={"Retry-After": str(wait)}, retry_after=wait)


class LoginThrottle:
    """Counters in this process (one server process, the default)."""

    def __init__(self, max_failures: int) -> None:
        self.max_failures = max(1, max_failures)
        self.counters: dict[tuple[str, str], _Counter] = {}

    async def check(self, account: str, address: str) -> None:
        """Raise LoginThrottled (429 with Retry-After) while either counter is locked."""
        now = time.monotonic()
        for key in _keys(account, address):
            counter = self.counters.get(key)
            if counter is not None and counter.locked_until > now:
                raise _throttled(counter.locked_until - now)

    async def failure(self, account: str, address: str) -> None:
        now = time.monotonic()
        self._forget_old(now)
        account_key, address_key = _keys(account, address)
        self._count(account_key, self.max_failures, now)
        self._count(address_key, self.max_failures * ADDRESS_FACTOR, now)

    async def success(self, account: str, address: str) -> None:
        self.counters.pop(_keys(account, address)[0], None)

    def _count(self, key: tuple[str, str], allowance: int, now: float) -> None:
        counter = self.counters.setdefault(key, _Counter())
        counter.failures += 1
        counter.last_failure = now
        excess = counter.failures - allowance
        if excess >= 0:
            counter.locked_until = now + _delay(excess)

    def _forget_old(self, now: float) -> None:
        if len(self.counters) < 10_000:
            return
        stale = [
            key
            for key, counter in self.counters.items()
            if now - counter.last_failure > FORGET_AFTER_SECONDS and counter.locked_until < now
        ]
        for key in stale:
            del self.counters[key]


class RedisLoginThrottle:
    """The same counters in Redis, shared by every server process (ATRIUM_REDIS_URL)."""

    def __init__(self, redis: Any, max_failures: int) -> None:
        self.redis = redis
        self.max_failures = max(1, max_failures)

    @staticmethod
    def _name(key: tuple[str, str]) -> str:
        return f"{REDIS_PREFIX}{key[0]}|{key[1]}"

    async def check(self, account: str, address: str) -> None:
        async with self.redis.pipeline(transaction=False) as pipe:
            for key in _keys(account, address):
                pipe.pttl(self._name(key) + ":lock")
            waits = await pipe.execute()
        longest = max(waits)
        if longest > 0:
            raise _throttled(longest / 1000)

    async def failure(self, account: str, address: str) -> None:
        account_key, address_key = _keys(account, address)
        allowances = {
            account_key: self.max_failures,
            address_key: self.max_failures * ADDRESS_FACTOR,
        }
        async with self.redis.pipeline(transaction=False) as pipe:
            for key in allowances:
                pipe.incr(self._name(key))
                pipe.expire(self._name(key), int(FORGET_AFTER_SECONDS))
            counts = (await pipe.execute())[0::2]
        for (key, allowance), failures in zip(allowances.items(), counts, strict=True):
            excess = int(failures) - allowance
            if excess >= 0:
                millis = int(_delay(excess) * 1000)
                await self.redis.set(self._name(key) + ":lock", "1", px=millis)

    async def success(self, account: str, address: str) -> None:
        name = self._name(_keys(account, address)[0])
        await self.redis.delete(name, name + ":lock")


def make_throttle(redis: Any, max_failures: int) -> LoginThrottle | RedisLoginThrottle:
    if redis is None:
        return LoginThrottle(max_failures)
    return RedisLoginThrottle(redis, max_failures)


class ClientAddress:
    """The caller's address: X-Forwarded-For is believed only from a configured proxy.

    ATRIUM_TRUSTED_PROXIES lists addresses or networks (CIDR); an entry that is neither
    (a Unix-socket peer name) is matched literally.
    """

    def __init__(self, trusted_proxies: Iterable[str]) -> None:
        self.networks: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = []
        self.names: set[str] = set()
        for entry in (item.strip() for item in trusted_proxies):
            try:
                self.networks.append(ipaddress.ip_network(entry, strict=False))
            except ValueError:
                if entry:
                    self.names.add(entry)

    def is_trusted(self, address: str) -> bool:
        if address in self.names:
            return True
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in network for network in self.networks)

    def resolve(self, peer: str | None, forwarded_for: str | None) -> str:
        peer = peer or "unknown"
        if not forwarded_for or not self.is_trusted(peer):
            return peer
        hops = [hop.strip() for hop in forwarded_for.split(",") if hop.strip()]
        for hop in reversed(hops):
            if not self.is_trusted(hop):
                return hop
        return hops[0] if hops else peer
