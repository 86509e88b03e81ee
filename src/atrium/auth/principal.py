"""Who is calling: the Principal every route receives, and how a change to identity data
reaches the cache that resolves it.

This module knows no table. `identity` composes a Principal from users, roles and keys and
keeps the cache; the domains below it (users, rbac, keys) only say that something changed.
"""

import hashlib
from dataclasses import dataclass, replace
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

CACHE_KEY = "auth_cache"  # session.info key under which every session reaches the cache


@dataclass(frozen=True, slots=True)
class KeyGrant:
    """What an API key adds to its owner's principal."""

    id: int
    user_id: int
    prefix: str
    scopes: frozenset[str] | None
    scope_label: str | None
    expires_at: datetime | None


@dataclass(frozen=True, slots=True)
class Principal:
    user_id: int
    username: str
    email: str
    role: str
    permissions: frozenset[str]
    reach: frozenset[str] = frozenset()  # "resource:action" the role holds on others' objects
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
        return self.can(resource, action) and f"{resource}:{action}" in self.reach

    @property
    def is_admin(self) -> bool:
        return self.role == "admin" and self.key_scopes is None

    def with_key(self, key: KeyGrant) -> "Principal":
        return replace(
            self,
            key_id=key.id,
            key_scopes=key.scopes,
            key_prefix=key.prefix,
            key_scope_label=key.scope_label,
        )


def key_digest(secret: str) -> str:
    """API keys are stored as SHA-256 digests (high-entropy secrets need no slow hash)."""
    return hashlib.sha256(secret.encode()).hexdigest()


def identity_changed(session: AsyncSession) -> None:
    """A user's role or state, a key or a grant changes in this transaction: cached principals
    are dropped once it commits (in every process, with Redis)."""
    cache = session.info.get(CACHE_KEY)
    if cache is not None:
        cache.invalidate_after_commit(session)
