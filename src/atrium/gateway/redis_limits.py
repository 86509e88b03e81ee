"""The limits with counters in Redis, shared by every server process.

A check reads every counter that applies and, only when none is over its limit, counts the
request, in one Lua script: Redis runs a script alone, so a burst of concurrent requests is
admitted up to the limit and no further (checking, then incrementing in a second round trip,
let every request of a burst pass the check first).
"""

import time
from datetime import UTC, datetime
from typing import Any

from atrium.auth.principal import Principal
from atrium.gateway.limits import (
    LimitSource,
    exceeded_budget,
    exceeded_rate,
    exceeded_tokens,
    idents,
    limited_scopes,
    month_key,
    month_start,
)
from atrium.tiers import service as tiers_service

PREFIX = "atrium:llm:limit"
WINDOW_SECONDS = 120  # a one-minute counter expires once its minute is over
MONTH_SECONDS = 40 * 86400
NONE = -1  # no limit

# ARGV: scopes, monthly (0/1), month requests limit, month tokens limit, then per scope its
# rpm, tpm and budget. KEYS: per scope its requests, tokens and spend counters, then the
# user's month requests and month tokens. Returns {0, 0} when the request was counted, else
# {reason, scope index}: 1 budget, 2 rpm, 3 tpm, 4 month requests, 5 month tokens, -1 a
# spend counter to seed from the database, -2 the month counters to seed.
CHECK_AND_COUNT = """
local n = tonumber(ARGV[1])
local monthly = ARGV[2] == '1'
for i = 1, n do
  local k = (i - 1) * 3
  local rpm = tonumber(ARGV[5 + k])
  local tpm = tonumber(ARGV[6 + k])
  local budget = tonumber(ARGV[7 + k])
  if budget >= 0 then
    local spent = redis.call('GET', KEYS[k + 3])
    if not spent then return {-1, i} end
    if tonumber(spent) >= budget then return {1, i} end
  end
  if rpm >= 0 and tonumber(redis.call('GET', KEYS[k + 1]) or '0') >= rpm then
    return {2, i}
  end
  if tpm >= 0 and tonumber(redis.call('GET', KEYS[k + 2]) or '0') >= tpm then
    return {3, i}
  end
end
if monthly then
  local requests = redis.call('GET', KEYS[3 * n + 1])
  local tokens = redis.call('GET', KEYS[3 * n + 2])
  if not requests or not tokens then return {-2, 0} end
  local max_requests = tonumber(ARGV[3])
  local max_tokens = tonumber(ARGV[4])
  if max_requests >= 0 and tonumber(requests) >= max_requests then return {4, 0} end
  if max_tokens >= 0 and tonumber(tokens) >= max_tokens then return {5, 0} end
end
for i = 1, n do
  local requests = KEYS[(i - 1) * 3 + 1]
  redis.call('INCR', requests)
  redis.call('EXPIRE', requests, tonumber(ARGV[2 + 3 * n + 3]))
end
if monthly then redis.call('INCR', KEYS[3 * n + 1]) end
return {0, 0}
"""


def _limit(value: float | int | None) -> str:
    return repr(value) if value is not None else str(NONE)


class RedisLimiter:
    """The same rules as `MemoryLimiter`, counted in Redis."""

    def __init__(self, source: LimitSource, redis: Any, namespace: str) -> None:
        self.source = source
        self.redis = redis
        self.prefix = f"{PREFIX}:{namespace}"
        self.check_and_count = redis.register_script(CHECK_AND_COUNT)

    def _keys(self, scope: str, ident: int, minute: int, month: str) -> tuple[str, str, str]:
        base = f"{self.prefix}:{scope}:{ident}"
        return f"{base}:req:{minute}", f"{base}:tok:{minute}", f"{base}:usd:{month}"

    def _month_keys(self, user_id: int, month: str) -> tuple[str, str]:
        base = f"{self.prefix}:user:{user_id}"
        return f"{base}:mreq:{month}", f"{base}:mtok:{month}"

    async def check(self, principal: Principal) -> None:
        user, key = await self.source.of(principal)
        scopes = limited_scopes(principal, user, key)
        if not scopes:
            return
        now_s = time.time()
        minute, retry = int(now_s // 60), 60 - int(now_s % 60)
        now = datetime.now(UTC)
        month = month_key(now)
        keys: list[str] = []
        args: list[str] = [
            str(len(scopes)),
            "1" if user.monthly else "0",
            _limit(user.month_requests),
            _limit(user.month_tokens),
        ]
        for scope, ident, limits in scopes:
            keys.extend(self._keys(scope, ident, minute, month))
            args.extend((_limit(limits.rpm), _limit(limits.tpm), _limit(limits.budget)))
        keys.extend(self._month_keys(principal.user_id, month))
        args.append(str(WINDOW_SECONDS))
        # each pass seeds at most one missing counter from the database
        for _attempt in range(len(scopes) + 2):
            reason, index = await self.check_and_count(keys=keys, args=args)
            if reason == -1:  # a budget's month-to-date spend is not in Redis yet
                scope, ident, _limits = scopes[int(index) - 1]
                await self._seed_spend(scope, ident, now, month)
            elif reason == -2:
                await self._seed_month(principal.user_id, now, month)
            else:
                break
        if reason == 0:
            return
        if reason == 4:
            raise tiers_service.quota_error(user.tier, "requests", user.month_requests, now)
        if reason == 5:
            raise tiers_service.quota_error(user.tier, "llm_tokens", user.month_tokens, now)
        scope, _ident, limits = scopes[int(index) - 1]
        if reason == 1:
            raise exceeded_budget(scope, limits.budget, now)  # type: ignore[arg-type]
        if reason == 2:
            raise exceeded_rate(scope, limits.rpm, retry)  # type: ignore[arg-type]
        raise exceeded_tokens(scope, limits.tpm, retry)  # type: ignore[arg-type]

    async def _seed_spend(self, scope: str, ident: int, now: datetime, month: str) -> None:
        spent = await self.source.month_spend(scope, ident, month_start(now))
        key = self._keys(scope, ident, 0, month)[2]
        await self.redis.set(key, repr(spent), nx=True, ex=MONTH_SECONDS)

    async def _seed_month(self, user_id: int, now: datetime, month: str) -> None:
        counts = await self.source.month_counts(user_id, month_start(now))
        keys = self._month_keys(user_id, month)
        for key, value in zip(keys, counts, strict=True):
            await self.redis.set(key, value, nx=True, ex=MONTH_SECONDS)

    async def record(self, principal: Principal, tokens: int, cost: float) -> None:
        user, key = await self.source.of(principal)
        budgets = {"user": user.budget, "key": key.budget}
        minute = int(time.time() // 60)
        month = month_key(datetime.now(UTC))
        pipe = self.redis.pipeline(transaction=False)
        for scope, ident in idents(principal):
            _requests, token_key, spend_key = self._keys(scope, ident, minute, month)
            if tokens:
                pipe.incrby(token_key, tokens)
                pipe.expire(token_key, WINDOW_SECONDS)
            # spend is kept only where a budget applies; the check seeded it from the database
            if cost and budgets[scope] is not None:
                pipe.incrbyfloat(spend_key, cost)
        if tokens and user.monthly:
            pipe.incrby(self._month_keys(principal.user_id, month)[1], tokens)
        await pipe.execute()
