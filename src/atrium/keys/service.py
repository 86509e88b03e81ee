"""API keys: made in a surface's format, stored as SHA-256 digests, scoped, revocable."""

from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, NamedTuple

from sqlalchemy import Integer, Select, bindparam, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from atrium.activity import service as activity_service
from atrium.auth.principal import KeyGrant, Principal, identity_changed, key_digest
from atrium.db import utcnow
from atrium.errors import BadRequest, Forbidden, NotFound
from atrium.keys.formats import ATRIUM_KEY, KeyFormat
from atrium.keys.tables import ApiKey
from atrium.prepared import Prepared
from atrium.rbac import service as rbac_service
from atrium.rbac.defaults import ACTIONS, RESOURCES
from atrium.reader import Reader


class KeyNotFound(NotFound):
    code = "key_not_found"
    detail = "API key not found"


class InvalidScope(BadRequest):
    code = "invalid_scope"


def normalise_scope(scope: str) -> str:
    """`resource:action`; ForgeTrace's `action:resource` order is accepted."""
    first, sep, second = scope.strip().lower().partition(":")
    if not sep:
        raise InvalidScope(f"Scope '{scope}' must be written resource:action")
    if first in ACTIONS and second in RESOURCES:
        first, second = second, first
    if first not in RESOURCES or second not in ACTIONS:
        raise InvalidScope(f"Unknown scope '{scope}'")
    return f"{first}:{second}"


def checked_scopes(principal: Principal, scopes: Iterable[str] | None) -> list[str] | None:
    """Scopes are a subset of what the creator may do (their role, and their key if any)."""
    if scopes is None:
        return sorted(principal.key_scopes) if principal.key_scopes is not None else None
    normalised = sorted({normalise_scope(scope) for scope in scopes})
    for scope in normalised:
        if not principal.can(*scope.split(":")):
            raise InvalidScope(f"Scope '{scope}' exceeds your own permissions")
    return normalised


def unrestricted_scopes(principal: Principal) -> None:
    """No scope list: the key carries every right of its creator, which only an administrator
    may hand out this way."""
    if not principal.is_admin:
        raise Forbidden("Only administrators can create admin-scoped keys")


async def role_scopes(session: AsyncSession, role: str) -> set[str]:
    return set(await rbac_service.permissions_of(session, role))


async def create_key(
    session: AsyncSession,
    principal: Principal,
    *,
    name: str,
    key_format: KeyFormat = ATRIUM_KEY,
    scopes: list[str] | None = None,
    scope_label: str | None = None,
    expires_at: datetime | None = None,
    notes: str | None = None,
) -> tuple[ApiKey, str]:
    """A new key for the caller; the secret is returned here and never again."""
    if expires_at is not None and expires_at <= utcnow():
        raise BadRequest("The expiry must be in the future")
    secret = key_format.render()
    key = ApiKey(
        user_id=principal.user_id,
        name=name.strip() or "API key",
        surface=key_format.surface,
        prefix=secret[:12],
        digest=key_digest(secret),
        scopes=scopes,
        scope_label=scope_label,
        notes=notes,
        expires_at=expires_at,
    )
    session.add(key)
    await session.flush()
    await activity_service.record(
        session,
        actor=principal,
        type="system",
        action="api_key.created",
        title="API key created",
        description=f"{activity_service.actor_name(principal)} created API key '{key.name}' "
        f"({key.prefix}…)",
        subject_type="api_key",
        subject_id=key.id,
    )
    return key, secret


def expiry_from(expires_at: datetime | None, expires_in_days: int | None) -> datetime | None:
    if expires_at is not None:
        return expires_at
    if expires_in_days is not None:
        return utcnow() + timedelta(days=expires_in_days)
    return None


class KeyRow(NamedTuple):
    """A key's shown fields as the read paths load them: prebuilt statements on a connection,
    rows copied into named tuples (a `Row`'s attribute access is twenty times slower)."""

    id: int
    user_id: int
    name: str
    prefix: str
    scopes: list[str] | None
    scope_label: str | None
    rpm_limit: int | None
    tpm_limit: int | None
    monthly_budget_usd: Decimal | None
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None
    created_at: datetime


_key = ApiKey.__table__.c
_RECORD = select(*(_key[name] for name in KeyRow._fields))


def _keys_page(*, everyone: bool, include_revoked: bool) -> Select[Any]:
    query = _RECORD.where(_key.id > bindparam("after_id"))
    if not everyone:
        query = query.where(_key.user_id == bindparam("user_id"))
    if not include_revoked:
        query = query.where(_key.revoked_at.is_(None))
    return query.order_by(_key.id).limit(bindparam("size", type_=Integer))


_PAGES = {
    (everyone, revoked): Prepared(_keys_page(everyone=everyone, include_revoked=revoked))
    for everyone in (False, True)
    for revoked in (False, True)
}
_LIVE_BY_ID = Prepared(_RECORD.where(_key.id == bindparam("key_id"), _key.revoked_at.is_(None)))
_ACTIVE_COUNTS = (
    select(_key.user_id, func.count())
    .where(_key.user_id.in_(bindparam("user_ids", expanding=True)), _key.revoked_at.is_(None))
    .group_by(_key.user_id)
)


async def list_keys(
    reader: Reader,
    principal: Principal,
    *,
    everyone: bool = False,
    include_revoked: bool = False,
    limit: int = 100,
    after_id: int | None = None,
) -> list[KeyRow]:
    """The caller's keys, or everyone's when `everyone` and the caller's role reaches them."""
    everyone = everyone and principal.reaches("api_keys", "read")
    params = {"after_id": after_id or 0, "size": limit, "user_id": principal.user_id}
    statement = _PAGES[everyone, include_revoked]
    return [KeyRow._make(row) for row in await reader.all(statement, params)]


async def read_key(reader: Reader, principal: Principal, key_id: int) -> KeyRow:
    """`get_key` as a row, for reads: a live key the caller owns (or reaches), else a 404."""
    row = await reader.first(_LIVE_BY_ID, {"key_id": key_id})
    key = KeyRow._make(row) if row is not None else None
    if key is None or (
        key.user_id != principal.user_id and not principal.reaches("api_keys", "read")
    ):
        raise KeyNotFound()
    return key


async def get_key(
    session: AsyncSession, principal: Principal, key_id: int, *, action: str = "read"
) -> ApiKey:
    """A key the caller owns (or reaches); anything else is a 404."""
    key = await session.get(ApiKey, key_id)
    if key is None or key.revoked_at is not None:
        raise KeyNotFound()
    if key.user_id != principal.user_id and not principal.reaches("api_keys", action):
        raise KeyNotFound()
    return key


async def revoke_key(session: AsyncSession, principal: Principal, key_id: int) -> ApiKey:
    key = await get_key(session, principal, key_id, action="delete")
    key.revoked_at = utcnow()
    await session.flush()
    identity_changed(session)
    return key


async def mark_used(session: AsyncSession, principal: Principal, key_id: int) -> ApiKey:
    key = await get_key(session, principal, key_id, action="write")
    key.last_used_at = utcnow()
    await session.flush()
    return key


async def update_key(
    session: AsyncSession, principal: Principal, key_id: int, changes: dict[str, Any]
) -> ApiKey:
    """Rename (owner) or set limits (administrators only; the gateway enforces them)."""
    key = await get_key(session, principal, key_id, action="write")
    limits = {"rpm_limit", "tpm_limit", "monthly_budget_usd"} & changes.keys()
    if limits and not principal.is_admin:
        raise Forbidden("Only administrators can set a key's limits")
    if changes.get("name"):
        key.name = changes["name"].strip() or key.name
    for field in limits:
        setattr(key, field, changes[field])
    await session.flush()
    identity_changed(session)
    return key


async def count_active_by_user(reader: Reader, user_ids: list[int]) -> dict[int, int]:
    if not user_ids:
        return {}
    return dict(await reader.all(_ACTIVE_COUNTS, {"user_ids": user_ids}))


async def llm_limits(session: AsyncSession, key_id: int) -> Any | None:
    """The key's own gateway limits (`rpm_limit`, `tpm_limit`, `monthly_budget_usd`, each
    None or 0 when unset), or None when the key does not exist."""
    statement = select(ApiKey.rpm_limit, ApiKey.tpm_limit, ApiKey.monthly_budget_usd).where(
        ApiKey.id == key_id
    )
    return (await session.execute(statement)).first()


async def grant_by_digest(session: AsyncSession, digest: str) -> KeyGrant | None:
    """The live key stored under `digest`, as what it adds to its owner's principal."""
    key = await session.scalar(
        select(ApiKey).where(ApiKey.digest == digest, ApiKey.revoked_at.is_(None))
    )
    if key is None:
        return None
    return KeyGrant(
        id=key.id,
        user_id=key.user_id,
        prefix=key.prefix,
        scopes=frozenset(key.scopes) if key.scopes is not None else None,
        scope_label=key.scope_label,
        expires_at=key.expires_at,
    )


async def record_last_used(session: AsyncSession, used: Mapping[int, datetime]) -> None:
    """Keys' last use, written off the request path (`identity.cache.ActivityRecorder`)."""
    for key_id, at in used.items():
        await session.execute(update(ApiKey).where(ApiKey.id == key_id).values(last_used_at=at))
