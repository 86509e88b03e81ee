"""Per-user and per-key limits: requests/min, tokens/min and a monthly budget (DECISIONS 21),
and the user's tier's monthly requests and LLM tokens (DECISIONS 35).

Counters live in this process by default; with Redis they live there, so that every server
process shares them (one pipeline per check). Limit values come from the user and key rows,
cached until the auth cache drops the user (an admin change) or for at most 30 seconds.
"""

import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from atrium.auth.principal import Principal
from atrium.identity.cache import AuthCache
from atrium.keys.tables import ApiKey
from atrium.llm.errors import LimitExceeded
from atrium.llm.tables import UsageDaily, UsageRecord
from atrium.tiers import service as tiers_service
from atrium.users.tables import User

LIMITS_TTL = 30.0
PREFIX = "atrium:llm:limit"


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


def _over_tier(limits: Limits, requests: int, tokens: int, now: datetime) -> None:
    if limits.month_requests is not None and requests >= limits.month_requests:
        raise tiers_service.quota_error(limits.tier, "requests", limits.month_requests, now)
    if limits.month_tokens is not None and tokens >= limits.month_tokens:
        raise tiers_service.quota_error(limits.tier, "llm_tokens", limits.month_tokens, now)


class LimitSource:
    """The limit values that apply to a principal, with a cache tied to the auth cache."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], auth_cache: AuthCache) -> None:
        self.sessions = sessions
        self.auth_cache = auth_cache
        self.cache: dict[tuple[int, int | None], _CachedLimits] = {}

    async def of(self, principal: Principal) -> tuple[Limits, Limits]:
        key = (principal.user_id, principal.key_id)
        anchor = self.auth_cache.principals.get(principal.user_id)
        cached = self.cache.get(key)
        if (
            cached is not None
            and cached.anchor is anchor
            and anchor is not None
            and time.monotonic() - cached.loaded_at < LIMITS_TTL
        ):
            return cached.user, cached.key
        async with self.sessions() as session:
            user = await session.get(User, principal.user_id)
            api_key = await session.get(ApiKey, principal.key_id) if principal.key_id else None
            tier = await tiers_service.limits_of(session, principal.user_id) if user else None
        entry = _CachedLimits(anchor, time.monotonic(), _limits(user, tier), _limits(api_key))
        self.cache[key] = entry
        return entry.user, entry.key

    async def month_spend(self, scope: str, ident: int, since: datetime) -> float:
        column = UsageRecord.user_id if scope == "user" else UsageRecord.key_id
        async with self.sessions() as session:
            total = await session.scalar(
                select(func.coalesce(func.sum(UsageRecord.cost_usd), 0.0)).where(
                    column == ident, UsageRecord.created_at >= since
                )
            )
        return float(total or 0.0)

    async def month_counts(self, user_id: int, since: datetime) -> tuple[int, int]:
        """(calls, tokens) of the user this month, from the daily roll-ups."""
        async with self.sessions() as session:
            row = (
                await session.execute(
                    select(
                        func.coalesce(func.sum(UsageDaily.calls), 0),
                        func.coalesce(
                            func.sum(UsageDaily.prompt_tokens + UsageDaily.completion_tokens), 0
                        ),
                    ).where(UsageDaily.user_id == user_id, UsageDaily.day >= since.date())
                )
            ).one()
        return int(row[0]), int(row[1])


def _exceeded_rate(scope: str, limit: int, retry: int) -> LimitExceeded:
    return LimitExceeded(
        "rate_limited", f"The {scope}'s limit of {limit} requests per minute is reached", retry
    )


def _exceeded_tokens(scope: str, limit: int, retry: int) -> LimitExceeded:
    return LimitExceeded(
        "token_limited", f"The {scope}'s limit of {limit} tokens per minute is reached", retry
    )


def _exceeded_budget(scope: str, budget: float, now: datetime) -> LimitExceeded:
    return LimitExceeded(
        "budget_exceeded",
        f"The {scope}'s monthly budget of {budget:.2f} USD is used up",
        seconds_to_next_month(now),
    )


def _scopes(principal: Principal, user: Limits, key: Limits) -> list[tuple[str, int, Limits]]:
    scopes = [("user", principal.user_id, user)]
    if principal.key_id is not None:
        scopes.append(("key", principal.key_id, key))
    return [scope for scope in scopes if not scope[2].empty]


class MemoryLimiter:
    """Fixed one-minute windows and month-to-date spend, in this process."""

    def __init__(self, source: LimitSource) -> None:
        self.source = source
        self.windows: dict[tuple[str, int], list[int]] = {}  # [minute, requests, tokens]
        self.spend: dict[tuple[str, int, str], float] = {}
        self.months: dict[tuple[int, str], list[int]] = {}  # [requests, tokens] this month

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
        scopes = _scopes(principal, user, key)
        if not scopes:
            return
        now_s = time.time()
        minute, retry = int(now_s // 60), 60 - int(now_s % 60)
        now = datetime.now(UTC)
        for scope, ident, limits in scopes:
            if limits.budget is not None and await self._spent(scope, ident, now) >= limits.budget:
                raise _exceeded_budget(scope, limits.budget, now)
            if scope == "user" and limits.monthly:
                counts = await self._month(ident, now)
                _over_tier(limits, counts[0], counts[1], now)
            window = self._window(scope, ident, minute)
            if limits.rpm is not None and window[1] >= limits.rpm:
                raise _exceeded_rate(scope, limits.rpm, retry)
            if limits.tpm is not None and window[2] >= limits.tpm:
                raise _exceeded_tokens(scope, limits.tpm, retry)
        for scope, ident, _ in scopes:
            self._window(scope, ident, minute)[1] += 1
        counts = self.months.get((principal.user_id, month_key(now)))
        if counts is not None:
            counts[0] += 1

    async def record(self, principal: Principal, tokens: int, cost: float) -> None:
        minute = int(time.time() // 60)
        month = month_key(datetime.now(UTC))
        for scope, ident in _idents(principal):
            window = self.windows.get((scope, ident))
            if window is not None and window[0] == minute:
                window[2] += tokens
            spent = (scope, ident, month)
            if spent in self.spend:
                self.spend[spent] += cost
        counts = self.months.get((principal.user_id, month))
        if counts is not None:
            counts[1] += tokens


def _idents(principal: Principal) -> list[tuple[str, int]]:
    idents = [("user", principal.user_id)]
    if principal.key_id is not None:
        idents.append(("key", principal.key_id))
    return idents


class RedisLimiter:
    """The same rules with counters in Redis, shared by every server process."""

    def __init__(self, source: LimitSource, redis: Any, namespace: str) -> None:
        self.source = source
        self.redis = redis
        self.prefix = f"{PREFIX}:{namespace}"

    def _keys(self, scope: str, ident: int, minute: int, month: str) -> tuple[str, str, str]:
        base = f"{self.prefix}:{scope}:{ident}"
        return f"{base}:req:{minute}", f"{base}:tok:{minute}", f"{base}:usd:{month}"

    def _month_keys(self, user_id: int, month: str) -> tuple[str, str]:
        base = f"{self.prefix}:user:{user_id}"
        return f"{base}:mreq:{month}", f"{base}:mtok:{month}"

    async def check(self, principal: Principal) -> None:
        user, key = await self.source.of(principal)
        scopes = _scopes(principal, user, key)
        if not scopes:
            return
        now_s = time.time()
        minute, retry = int(now_s // 60), 60 - int(now_s % 60)
        now = datetime.now(UTC)
        month = month_key(now)
        pipe = self.redis.pipeline(transaction=False)
        for scope, ident, _ in scopes:
            requests, tokens, spend = self._keys(scope, ident, minute, month)
            pipe.get(requests)
            pipe.get(tokens)
            pipe.get(spend)
        if user.monthly:
            for month_counter in self._month_keys(principal.user_id, month):
                pipe.get(month_counter)
        values = await pipe.execute()
        for index, (scope, ident, limits) in enumerate(scopes):
            requests, tokens, spent = values[index * 3 : index * 3 + 3]
            if limits.budget is not None:
                if spent is None:
                    spent = await self._seed_spend(scope, ident, now, month)
                if float(spent) >= limits.budget:
                    raise _exceeded_budget(scope, limits.budget, now)
            if limits.rpm is not None and int(requests or 0) >= limits.rpm:
                raise _exceeded_rate(scope, limits.rpm, retry)
            if limits.tpm is not None and int(tokens or 0) >= limits.tpm:
                raise _exceeded_tokens(scope, limits.tpm, retry)
        if user.monthly:
            month_requests, month_tokens = values[len(scopes) * 3 :]
            if month_requests is None or month_tokens is None:
                month_requests, month_tokens = await self._seed_month(principal.user_id, now, month)
            _over_tier(user, int(month_requests), int(month_tokens), now)
        pipe = self.redis.pipeline(transaction=False)
        for scope, ident, _ in scopes:
            requests = self._keys(scope, ident, minute, month)[0]
            pipe.incr(requests)
            pipe.expire(requests, 120)
        if user.monthly:
            pipe.incr(self._month_keys(principal.user_id, month)[0])
        await pipe.execute()

    async def _seed_spend(self, scope: str, ident: int, now: datetime, month: str) -> float:
        spent = await self.source.month_spend(scope, ident, month_start(now))
        key = self._keys(scope, ident, 0, month)[2]
        await self.redis.set(key, repr(spent), nx=True, ex=40 * 86400)
        return float(await self.redis.get(key) or spent)

    async def _seed_month(self, user_id: int, now: datetime, month: str) -> tuple[int, int]:
        counts = await self.source.month_counts(user_id, month_start(now))
        keys = self._month_keys(user_id, month)
        for key, value in zip(keys, counts, strict=True):
            await self.redis.set(key, value, nx=True, ex=40 * 86400)
        stored = [await self.redis.get(key) for key in keys]
        return int(stored[0] or counts[0]), int(stored[1] or counts[1])

    async def record(self, principal: Principal, tokens: int, cost: float) -> None:
        user, key = await self.source.of(principal)
        budgets = {"user": user.budget, "key": key.budget}
        minute = int(time.time() // 60)
        month = month_key(datetime.now(UTC))
        pipe = self.redis.pipeline(transaction=False)
        for scope, ident in _idents(principal):
            _requests, token_key, spend_key = self._keys(scope, ident, minute, month)
            if tokens:
                pipe.incrby(token_key, tokens)
                pipe.expire(token_key, 120)
            # spend is kept only where a budget applies; the check seeded it from the database
            if cost and budgets[scope] is not None:
                pipe.incrbyfloat(spend_key, cost)
        if tokens and user.monthly:
            pipe.incrby(self._month_keys(principal.user_id, month)[1], tokens)
        await pipe.execute()
