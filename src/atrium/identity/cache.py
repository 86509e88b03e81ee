"""Who is calling: the Principal, and the cache that makes resolving it cost no query."""

import asyncio
import hashlib
import logging
import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import event, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from atrium.keys.tables import ApiKey
from atrium.rbac.defaults import REACH
from atrium.rbac.tables import RolePermission
from atrium.security.tokens import AccessClaims, decode_access_token
from atrium.users.tables import User

log = logging.getLogger("atrium.auth")
EPOCH_KEY = "atrium:auth:epoch"
MAX_VERIFIED_TOKENS = 50_000


@dataclass(frozen=True, slots=True)
class Principal:
    user_id: int
    username: str
    email: str
    role: str
    permissions: frozenset[str]
    key_id: int | None = None
    key_scopes: frozenset[str] | None = None
    key_prefix: str | None = None
    key_scope_label: str | None = None
    full_name: str | None = None
    created_at: datetime | None = None
    auth_source: str = "local"

    def can(self, resource: str, action: str) -> bool:
        permission = f"{resource}:{action}"
        if permission not in self.permissions:
            return False
        return self.key_scopes is None or permission in self.key_scopes

    def reaches(self, resource: str, action: str) -> bool:
        """May act on other users' objects of this resource, not only on its own."""
        return self.can(resource, action) and action in REACH.get(self.role, {}).get(resource, ())

    @property
    def is_admin(self) -> bool:
        return self.role == "admin" and self.key_scopes is None

    def with_key(self, key: ApiKey) -> "Principal":
        scopes = frozenset(key.scopes) if key.scopes is not None else None
        return replace(
            self,
            key_id=key.id,
            key_scopes=scopes,
            key_prefix=key.prefix,
            key_scope_label=key.scope_label,
        )


@dataclass(frozen=True, slots=True)
class CachedKey:
    key: ApiKey
    expires_at: datetime | None


def key_digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


class AuthCache:
    """Principals by user id and keys by digest, dropped whenever identity data changes.

    Changes call `invalidate_after_commit(session)`; with Redis the epoch is shared so that
    every server process drops its copy on its next request.
    """

    def __init__(self, sessions: async_sessionmaker[AsyncSession], redis: Any = None) -> None:
        self.sessions = sessions
        self.redis = redis
        self.epoch: int = 0
        self.principals: dict[int, Principal] = {}
        self.keys: dict[str, CachedKey] = {}
        self.denied_jtis: dict[str, float] = {}
        self.role_permissions: dict[str, frozenset[str]] = {}
        self.verified: dict[str, tuple[AccessClaims, float]] = {}

    def claims_of(self, jwt_key: bytes, token: str) -> AccessClaims:
        """Decoded claims of a signed token, verified once and then remembered until expiry.

        Raises InvalidToken. Revocation is not decided here: the caller checks the deny-list
        and the user's current state on every request.
        """
        hit = self.verified.get(token)
        if hit is not None and hit[1] > time.time():
            return hit[0]
        claims = decode_access_token(jwt_key, token)
        if len(self.verified) >= MAX_VERIFIED_TOKENS:
            self.verified.clear()
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
        """Drop cached identities once this transaction commits (see `publish_changes`)."""
        if session.info.get("auth_changed"):
            return
        session.info["auth_changed"] = True

        def on_commit(_session: Any) -> None:
            self.clear()

        event.listen(session.sync_session, "after_commit", on_commit, once=True)

    async def publish_changes(self, session: AsyncSession) -> None:
        """After a commit that changed identities, tell the other processes (shared epoch)."""
        if session.info.pop("auth_changed", False):
            await self.bump()

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
        from atrium.auth.tables import RevokedAccessToken

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
            user = await session.get(User, user_id)
            if user is None or not user.is_active:
                return None
            permissions = await self._permissions_of(session, user.role)
        principal = Principal(
            user_id=user.id,
            username=user.username,
            email=user.email,
            role=user.role,
            permissions=permissions,
            full_name=user.full_name,
            created_at=user.created_at,
            auth_source=user.auth_source,
        )
        self.principals[user_id] = principal
        return principal

    async def key_for_secret(self, secret: str) -> CachedKey | None:
        digest = key_digest(secret)
        cached = self.keys.get(digest)
        if cached is not None:
            return cached
        async with self.sessions() as session:
            key = await session.scalar(
                select(ApiKey).where(ApiKey.digest == digest, ApiKey.revoked_at.is_(None))
            )
        if key is None:
            return None
        cached = CachedKey(key=key, expires_at=key.expires_at)
        self.keys[digest] = cached
        return cached

    async def _permissions_of(self, session: AsyncSession, role: str) -> frozenset[str]:
        cached = self.role_permissions.get(role)
        if cached is None:
            rows = await session.execute(
                select(RolePermission.resource, RolePermission.action).where(
                    RolePermission.role_id == role
                )
            )
            cached = frozenset(f"{resource}:{action}" for resource, action in rows)
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
            for user_id, at in users.items():
                await session.execute(
                    update(User)
                    .where(User.id == user_id)
                    .values(last_active_at=at, updated_at=User.updated_at)
                )
            for key_id, at in keys.items():
                await session.execute(
                    update(ApiKey).where(ApiKey.id == key_id).values(last_used_at=at)
                )
            await session.commit()

    async def run(self, interval: float = 2.0) -> None:
        while True:
            await asyncio.sleep(interval)
            try:
                await self.flush()
            except Exception:
                log.exception("could not record activity")
