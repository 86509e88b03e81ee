"""Per-user and per-key limits: requests/min, tokens/min and a monthly budget,
and the user's tier's monthly requests and LLM tokens.

Counters live in this process by default (bounded caches: a counter of a past minute or an
idle user is dropped); with Redis they live there, so that every server process shares them.
There a check and its increment are one Lua script, so concurrent requests cannot all pass a
check before any of them counts. Limit values come from the users and keys domains, cached
until the auth cache drops the user (an admin change) or for at most 30 seconds.
"""

import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from cachetools import TTLCache
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from atrium.auth.principal import Principal
from atrium.gateway.errors import LimitExceeded
from atrium.identity.cache import AuthCache
from atrium.keys import service as keys_service
from atrium.tiers import service as tiers_service
from atrium.usage import service as usage_service
from atrium.users import service as users_service

LIMITS_TTL = 30.0
MAX_CALLERS = 100_000  # (user, key) pairs whose limits or counters are kept in memory
WINDOW_TTL = 120.0  # a one-minute window is useless once its minute is over
MONTH_TTL = 3600.0  # month-to-date figures are read again from the database after an hour


@dataclass(frozen=True, slots=True)
class Limits:
    rpm: int | None = None
    tpm: int | None = None
    budget: float | None = None
    month_requests: int | None = None  # the tier's, users only
    month_tokens: int | None = None
    tier: str = ""

    @property
    def empty(self) -> bool:
        return (
            self.rpm is None
            and self.tpm is None
            and self.budget is None
            and self.month_requests is None
            and self.month_tokens is None
        )

    @property
    def monthly(self) -> bool:
        return self.month_requests is not None or self.month_tokens is not None


@dataclass(slots=True)
class _CachedLimits:
    anchor: Any
    loaded_at: float
    user: Limits
    key: Limits


def month_key(now: datetime) -> str:
    return f"{now.year:04d}{now.month:02d}"


def month_start(now: datetime) -> datetime:
    return now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def seconds_to_next_month(now: datetime) -> int:
    start = month_start(now)
    following = (
        start.replace(year=start.year + 1, month=1)
        if start.month == 12
        else start.replace(month=start.month + 1)
    )
    return int((following - now).total_seconds()) + 1


def _limits(row: Any, tier: tuple[str, dict[str, int | None]] | None = None) -> Limits:
    if row is None:
        return Limits()
    budget = row.monthly_budget_usd
    name, monthly = tier or ("", {})
    return Limits(
        rpm=row.rpm_limit or None,
        tpm=row.tpm_limit or None,
        budget=float(budget) if budget is not None and budget > 0 else None,
        month_requests=monthly.get("requests"),
        month_tokens=monthly.get("llm_tokens"),
        tier=name,
    )


def over_tier(limits: Limits, requests: int, tokens: int, now: datetime) -> None:
    if limits.month_requests is not None and requests >= limits.month_requests:
        raise tiers_service.quota_error(limits.tier, "requests", limits.month_requests, now)
    if limits.month_tokens is not None and tokens >= limits.month_tokens:
        raise tiers_service.quota_error(limits.tier, "llm_tokens", limits.month_tokens, now)


class LimitSource:
    """The limit values that apply to a principal, with a cache tied to the auth cache."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], auth_cache: AuthCache) -> None:
        self.sessions = sessions
        self.auth_cache = auth_cache
        self.cache: TTLCache[tuple[int, int | None], _CachedLimits] = TTLCache(
            MAX_CALLERS, LIMITS_TTL
        )

    async def of(self, principal: Principal) -> tuple[Limits, Limits]:
        key = (principal.user_id, principal.key_id)
        anchor = self.auth_cache.principals.get(principal.user_id)
        cached = self.cache.get(key)
        if cached is not None and cached.anchor is anchor and anchor is not None:
            return cached.user, cached.key
        async with self.sessions() as session:
            user = await users_service.llm_limits(session, principal.user_id)
            api_key = (
                await keys_service.llm_limits(session, principal.key_id)
                if principal.key_id
                else None
            )
            tier = await tiers_service.limits_of(session, principal.user_id) if user else None
        entry = _CachedLimits(anchor, time.monotonic(), _limits(user, tier), _limits(api_key))
        self.cache[key] = entry
        return entry.user, entry.key

    async def month_spend(self, scope: str, ident: int, since: datetime) -> float:
        return await usage_service.month_spend(self.sessions, scope, ident, since)

    async def month_counts(self, user_id: int, since: datetime) -> tuple[int, int]:
        """(calls, tokens) of the user this month."""
        return await usage_service.month_counts(self.sessions, user_id, since)


def exceeded_rate(scope: str, limit: int, retry: int) -> LimitExceeded:
    return LimitExceeded(
        "rate_limited", f"The {scope}'s limit of {limit} requests per minute is reached", retry
    )


def exceeded_tokens(scope: str, limit: int, retry: int) -> LimitExceeded:
    return LimitExceeded(
        "token_limited", f"The {scope}'s limit of {limit} tokens per minute is reached", retry
    )


def exceeded_budget(scope: str, budget: float, now: datetime) -> LimitExceeded:
    return LimitExceeded(
        "budget_exceeded",
        f"The {scope}'s monthly budget of {budget:.2f} USD is used up",
        seconds_to_next_month(now),
    )


def limited_scopes(
    principal: Principal, user: Limits, key: Limits
) -> list[tuple[str, int, Limits]]:
    scopes = [("user", principal.user_id, user)]
    if principal.key_id is not None:
        scopes.append(("key", principal.key_id, key))
    return [scope for scope in scopes if not scope[2].empty]


class MemoryLimiter:
    """Fixed one-minute windows and month-to-date spend, in this process."""

    def __init__(self, source: LimitSource) -> None:
        self.source = source
        # [minute, requests, tokens] per scope; [requests, tokens] of the month per user
        self.windows: TTLCache[tuple[str, int], list[int]] = TTLCache(MAX_CALLERS, WINDOW_TTL)
        self.spend: TTLCache[tuple[str, int, str], float] = TTLCache(MAX_CALLERS, MONTH_TTL)
        self.months: TTLCache[tuple[int, str], list[int]] = TTLCache(MAX_CALLERS, MONTH_TTL)

    async def _month(self, user_id: int, now: datetime) -> list[int]:
        key = (user_id, month_key(now))
        if key not in self.months:
            counts = await self.source.month_counts(user_id, month_start(now))
            self.months[key] = list(counts)
        return self.months[key]

    def _window(self, scope: str, ident: int, minute: int) -> list[int]:
        window = self.windows.get((scope, ident))
        if window is None or window[0] != minute:
            window = self.windows[(scope, ident)] = [minute, 0, 0]
        return window

    async def _spent(self, scope: str, ident: int, now: datetime) -> float:
        month = month_key(now)
        key = (scope, ident, month)
        if key not in self.spend:
            self.spend[key] = await self.source.month_spend(scope, ident, month_start(now))
        return self.spend[key]

    async def check(self, principal: Principal) -> None:
        user, key = await self.source.of(principal)
        scopes = limited_scopes(principal, user, key)
        if not scopes:
            return
        now_s = time.time()
        minute, retry = int(now_s // 60), 60 - int(now_s % 60)
        now = datetime.now(UTC)
        for scope, ident, limits in scopes:
            if limits.budget is not None and await self._spent(scope, ident, now) >= limits.budget:
                raise exceeded_budget(scope, limits.budget, now)
            if scope == "user" and limits.monthly:
                counts = await self._month(ident, now)
                over_tier(limits, counts[0], counts[1], now)
            window = self._window(scope, ident, minute)
            if limits.rpm is not None and window[1] >= limits.rpm:
                raise exceeded_rate(scope, limits.rpm, retry)
            if limits.tpm is not None and window[2] >= limits.tpm:
                raise exceeded_tokens(scope, limits.tpm, retry)
        for scope, ident, _ in scopes:
            self._window(scope, ident, minute)[1] += 1
        counts = self.months.get((principal.user_id, month_key(now)))
        if counts is not None:
            counts[0] += 1

    async def record(self, principal: Principal, tokens: int, cost: float) -> None:
        minute = int(time.time() // 60)
        month = month_key(datetime.now(UTC))
        for scope, ident in idents(principal):
            window = self.windows.get((scope, ident))
            if window is not None and window[0] == minute:
                window[2] += tokens
            spent = (scope, ident, month)
            if spent in self.spend:
                self.spend[spent] += cost
        counts = self.months.get((principal.user_id, month))
        if counts is not None:
            counts[1] += tokens


def idents(principal: Principal) -> list[tuple[str, int]]:
    idents = [("user", principal.user_id)]
    if principal.key_id is not None:
        idents.append(("key", principal.key_id))
    return idents
