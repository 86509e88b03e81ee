"""Resolving a credential to a Principal without a query on a warm cache.

`identity` composes a principal from the user (users), the role's grants and reach (rbac) and
the key (keys); `auth.deps.require` calls this cache through `app.state.auth_cache`.
"""

import asyncio
import logging
import time
from datetime import UTC, datetime
from typing import Any

from cachetools import FIFOCache
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from atrium.auth.principal import CACHE_KEY, KeyGrant, Principal, key_digest
from atrium.db import after_commit, share_with_sessions
from atrium.identity.tables import RevokedAccessToken
from atrium.keys import service as keys_service
from atrium.keys.formats import KeyFormats
from atrium.rbac import service as rbac_service
from atrium.security.tokens import AccessClaims, decode_access_token
from atrium.users import service as users_service

log = logging.getLogger("atrium.auth")
EPOCH_KEY = "atrium:auth:epoch"
MAX_VERIFIED_TOKENS = 50_000
MAX_PRINCIPALS = 50_000
MAX_KEYS = 50_000
MAX_ROLES = 1_024


class AuthCache:
    """Principals by user id and keys by digest, dropped whenever identity data changes.

    Changes call `auth.principal.identity_changed(session)`; after the commit the local copy
    is dropped and, with Redis, a shared epoch is bumped so that every server process drops
    its copy on its next request.
    """

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        redis: Any = None,
        key_formats: KeyFormats | None = None,
    ) -> None:
        self.sessions = sessions
        self.redis = redis
        self.key_formats = key_formats or KeyFormats()
        self.epoch: int = 0
        # Bounded, oldest entry out first. FIFO rather than LRU or TLRU: a hit does not
        # reorder anything, so it costs about a dict lookup on every request (TLRUCache's
        # hit measured ~20x a FIFOCache's); identity changes clear them anyway.
        self.principals: FIFOCache[int, Principal] = FIFOCache(MAX_PRINCIPALS)
        self.keys: FIFOCache[str, KeyGrant] = FIFOCache(MAX_KEYS)
        self.role_permissions: FIFOCache[str, frozenset[str]] = FIFOCache(MAX_ROLES)
        # verified JWT claims with their expiry
        self.verified: FIFOCache[str, tuple[AccessClaims, float]] = FIFOCache(MAX_VERIFIED_TOKENS)
        # never evicted for size: forgetting a revoked token would let it in again
        self.denied_jtis: dict[str, float] = {}

    def install(self) -> None:
        """Every session of this app reaches the cache (`auth.principal.identity_changed`),
        request sessions and background ones alike."""
        share_with_sessions(self.sessions, **{CACHE_KEY: self})

    def claims_of(self, jwt_key: bytes, token: str) -> AccessClaims:
        """Decoded claims of a signed token, verified once and then remembered until expiry.

        Raises InvalidToken. Revocation is not decided here: the caller checks the deny-list
        and the user's current state on every request.
        """
        hit = self.verified.get(token)
        if hit is not None and hit[1] > time.time():
            return hit[0]
        claims = decode_access_token(jwt_key, token)
        self.verified[token] = (claims, claims.expires_at.timestamp())
        return claims

    def clear(self) -> None:
        self.principals.clear()
        self.keys.clear()
        self.role_permissions.clear()

    async def sync_epoch(self) -> None:
        if self.redis is None:
            return
        shared = int(await self.redis.get(EPOCH_KEY) or 0)
        if shared != self.epoch:
            self.clear()
            self.epoch = shared
            await self._reload_denylist()

    async def bump(self) -> None:
        self.clear()
        if self.redis is not None:
            self.epoch = int(await self.redis.incr(EPOCH_KEY))

    def invalidate_after_commit(self, session: AsyncSession) -> None:
        """Drop cached identities once this transaction commits (once however many changes)."""
        after_commit(session, self.bump, key=CACHE_KEY)

    def deny_jti(self, jti: str, expires_at: datetime) -> None:
        self.denied_jtis[jti] = expires_at.timestamp()

    def is_denied(self, jti: str) -> bool:
        expiry = self.denied_jtis.get(jti)
        if expiry is None:
            return False
        if expiry < time.time():
            del self.denied_jtis[jti]
            return False
        return True

    async def _reload_denylist(self) -> None:
        now = datetime.now(UTC)
        async with self.sessions() as session:
            rows = await session.execute(
                select(RevokedAccessToken.jti, RevokedAccessToken.expires_at).where(
                    RevokedAccessToken.expires_at > now
                )
            )
            self.denied_jtis = {jti: expiry.timestamp() for jti, expiry in rows}

    async def load_denylist(self) -> None:
        await self._reload_denylist()

    async def principal_for_user(self, user_id: int) -> Principal | None:
        cached = self.principals.get(user_id)
        if cached is not None:
            return cached
        async with self.sessions() as session:
            user = await users_service.get_active(session, user_id)
            if user is None:
                return None
            permissions = await self._permissions_of(session, user.role)
        principal = Principal(
            user_id=user.id,
            username=user.username,
            email=user.email,
            role=user.role,
            permissions=permissions,
            reach=rbac_service.reach_of(user.role),
            full_name=user.full_name,
            created_at=user.created_at,
            auth_source=user.auth_source,
        )
        self.principals[user_id] = principal
        return principal

    async def key_for_secret(self, credential: str) -> KeyGrant | None:
        """The live key a credential names; None when it is in no registered format."""
        secret = self.key_formats.secret_of(credential)
        if secret is None:
            return None
        digest = key_digest(secret)
        cached = self.keys.get(digest)
        if cached is not None:
            return cached
        async with self.sessions() as session:
            key = await keys_service.grant_by_digest(session, digest)
        if key is not None:
            self.keys[digest] = key
        return key

    async def _permissions_of(self, session: AsyncSession, role: str) -> frozenset[str]:
        cached = self.role_permissions.get(role)
        if cached is None:
            cached = await rbac_service.permissions_of(session, role)
            self.role_permissions[role] = cached
        return cached


class ActivityRecorder:
    """Writes users' last activity and keys' last use off the request path, throttled."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], every_seconds: float) -> None:
        self.sessions = sessions
        self.every_seconds = every_seconds
        self.pending_users: dict[int, datetime] = {}
        self.pending_keys: dict[int, datetime] = {}
        self.written: dict[tuple[str, int], float] = {}

    def touch(self, principal: Principal) -> None:
        now_mono = time.monotonic()
        if self._due("user", principal.user_id, now_mono):
            self.pending_users[principal.user_id] = datetime.now(UTC)
        if principal.key_id is not None and self._due("key", principal.key_id, now_mono):
            self.pending_keys[principal.key_id] = datetime.now(UTC)

    def _due(self, kind: str, ident: int, now_mono: float) -> bool:
        last = self.written.get((kind, ident))
        if last is not None and now_mono - last < self.every_seconds:
            return False
        self.written[(kind, ident)] = now_mono
        return True

    async def flush(self) -> None:
        users, self.pending_users = self.pending_users, {}
        keys, self.pending_keys = self.pending_keys, {}
        if not users and not keys:
            return
        async with self.sessions() as session:
            await users_service.record_last_active(session, users)
            await keys_service.record_last_used(session, keys)
            await session.commit()

    async def run(self, interval: float = 2.0) -> None:
        while True:
            await asyncio.sleep(interval)
            try:
                await self.flush()
            except Exception:
                log.exception("could not record activity")
