"""User accounts: creation, lookups, administration and deletion."""

import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any, NamedTuple

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import Integer, Select, bindparam, delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from atrium.activity import service as activity_service
from atrium.auth.principal import Principal, identity_changed
from atrium.config import Settings
from atrium.errors import BadRequest, Conflict, Forbidden, NotFound, Unprocessable
from atrium.prepared import Prepared
from atrium.rbac import service as rbac_service
from atrium.reader import Reader
from atrium.security.passwords import check_policy, hash_password
from atrium.users.tables import User

Account = User
"""What this service returns for a user; other domains annotate with it (they never query the
table themselves)."""
UserDeletionHook = Callable[[AsyncSession, int], Awaitable[None]]
USERNAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


class DuplicateUser(Conflict):
    code = "user_exists"


class UserNotFound(NotFound):
    code = "user_not_found"
    detail = "User not found"


class InvalidRole(BadRequest):
    code = "invalid_role"
    detail = "Invalid role"


class LastAdmin(Conflict):
    code = "last_admin"
    detail = "The last active administrator cannot be removed, demoted or deactivated"


class SelfChange(BadRequest):
    code = "own_account"


class InvalidEmail(Unprocessable):
    code = "invalid_email"
    field = "email"


class InvalidUsername(Unprocessable):
    code = "invalid_username"
    field = "username"
    detail = (
        "The username must be 1 to 64 letters, digits, '.', '_' or '-', starting with a "
        "letter or digit"
    )


def normalise_email(email: str) -> str:
    return email.strip().lower()


def validated_email(email: str) -> str:
    try:
        checked = validate_email(email.strip(), check_deliverability=False)
    except EmailNotValidError as exc:
        raise InvalidEmail(f"The email address is not valid: {exc}") from None
    return normalise_email(checked.normalized)


def validated_username(username: str) -> str:
    username = username.strip()
    if not USERNAME.match(username):
        raise InvalidUsername()
    return username


async def find_by_login(session: AsyncSession, login: str) -> User | None:
    """A login name is an email or a username, compared case-insensitively."""
    login = login.strip().lower()
    return await session.scalar(
        select(User).where(or_(User.email == login, func.lower(User.username) == login))
    )


async def find_by_name(session: AsyncSession, name: str) -> User | None:
    """A user by display name, only when exactly one user has it (Vault's login)."""
    rows = await session.scalars(
        select(User).where(func.lower(User.full_name) == name.strip().lower()).limit(2)
    )
    found = rows.all()
    return found[0] if len(found) == 1 else None


async def ensure_unique(
    session: AsyncSession, email: str, username: str, *, except_id: int | None = None
) -> None:
    query = select(User).where(
        or_(User.email == normalise_email(email), func.lower(User.username) == username.lower())
    )
    if except_id is not None:
        query = query.where(User.id != except_id)
    clash = await session.scalar(query.limit(1))
    if clash is None:
        return
    if clash.email == normalise_email(email):
        raise DuplicateUser("A user with this email already exists")
    raise DuplicateUser("A user with this username already exists")


async def create_user(
    session: AsyncSession,
    *,
    email: str,
    username: str,
    password: str | None,
    role: str = "user",
    full_name: str | None = None,
    auth_source: str = "local",
    monthly_budget_usd: float | None = None,
) -> User:
    await ensure_unique(session, email, username)
    user = User(
        email=normalise_email(email),
        username=username.strip(),
        full_name=full_name,
        password_hash=hash_password(password) if password else None,
        role=role,
        is_active=True,
        auth_source=auth_source,
        monthly_budget_usd=monthly_budget_usd,
    )
    session.add(user)
    await session.flush()
    return user


async def has_active_admin(session: AsyncSession) -> bool:
    admin = await session.scalar(
        select(User.id).where(User.role == "admin", User.is_active.is_(True)).limit(1)
    )
    return admin is not None


def check_password_policy(
    password: str, *, email: str, username: str, settings: Settings | None = None
) -> None:
    min_length = settings.password_min_length if settings is not None else 8
    check_policy(password, email=email, username=username, min_length=min_length)


async def bootstrap_admin(session: AsyncSession, settings: Settings) -> User | None:
    """Honour ATRIUM_ADMIN_EMAIL / ATRIUM_ADMIN_PASSWORD once, while no admin exists."""
    if not (settings.admin_email and settings.admin_password):
        return None
    if await has_active_admin(session):
        return None
    email = settings.admin_email
    username = settings.admin_username or email.split("@")[0]
    return await create_user(
        session,
        email=email,
        username=username,
        password=settings.admin_password.get_secret_value(),
        role="admin",
    )


# --- administration -------------------------------------------------------------------------


async def get_user(session: AsyncSession, user_id: int) -> User:
    user = await session.get(User, user_id)
    if user is None:
        raise UserNotFound()
    return user


async def user_exists(session: AsyncSession, user_id: int) -> bool:
    return await session.scalar(select(User.id).where(User.id == user_id)) is not None


async def ids_by_email(session: AsyncSession, emails: Sequence[str]) -> dict[str, int]:
    """User ids by normalised email, for the given addresses that belong to a user."""
    wanted = sorted({normalise_email(email) for email in emails if email})
    found: dict[str, int] = {}
    for start in range(0, len(wanted), 500):
        rows = await session.execute(
            select(User.email, User.id).where(User.email.in_(wanted[start : start + 500]))
        )
        found.update({email: user_id for email, user_id in rows.tuples()})
    return found


class UserRow(NamedTuple):
    """An account's shown fields as the read paths load them: prebuilt statements on a
    connection, rows copied into named tuples (a `Row`'s attribute access is twenty times
    slower); the shapes read them as they read an `Account`."""

    id: int
    email: str
    username: str
    full_name: str | None
    role: str
    is_active: bool
    auth_source: str
    rpm_limit: int | None
    tpm_limit: int | None
    monthly_budget_usd: Decimal | None
    last_active_at: datetime | None
    created_at: datetime


_user = User.__table__.c
_RECORD = select(*(_user[name] for name in UserRow._fields))
_BY_ID = Prepared(_RECORD.where(_user.id == bindparam("user_id")))
_after = _RECORD.where(_user.id > bindparam("after_id"))
_PAGE = Prepared(
    _after.order_by(_user.id)
    .limit(bindparam("size", type_=Integer))
    .offset(bindparam("skip", type_=Integer))
)


async def read_user(reader: Reader, user_id: int) -> UserRow:
    """`get_user` for reads."""
    user = await reader.first(_BY_ID, {"user_id": user_id})
    if user is None:
        raise UserNotFound()
    return UserRow._make(user)


async def list_users(
    reader: Reader,
    *,
    search: str | None = None,
    limit: int = 100,
    after_id: int | None = None,
    offset: int = 0,
) -> list[UserRow]:
    """Users by id; `search` matches email, username or name (substring, any case)."""
    params = {"after_id": after_id or 0, "size": limit, "skip": offset}
    statement: Prepared | Select[Any] = _PAGE
    if search:
        needle = search.strip().lower()
        statement = (
            _after.where(
                or_(
                    func.lower(_user.email).contains(needle, autoescape=True),
                    func.lower(_user.username).contains(needle, autoescape=True),
                    func.lower(_user.full_name).contains(needle, autoescape=True),
                )
            )
            .order_by(_user.id)
            .limit(bindparam("size", type_=Integer))
            .offset(bindparam("skip", type_=Integer))
        )
    return [UserRow._make(row) for row in await reader.all(statement, params)]


async def ensure_role(session: AsyncSession, role: str) -> str:
    role_id = role.strip().lower()
    if not await rbac_service.role_exists(session, role_id):
        raise InvalidRole()
    return role_id


async def _other_active_admin(session: AsyncSession, user_id: int) -> bool:
    other = await session.scalar(
        select(User.id)
        .where(User.role == "admin", User.is_active.is_(True), User.id != user_id)
        .limit(1)
    )
    return other is not None


async def _guard_last_admin(session: AsyncSession, user: User, *, keeps_admin: bool) -> None:
    removes_admin = user.role == "admin" and user.is_active and not keeps_admin
    if removes_admin and not await _other_active_admin(session, user.id):
        raise LastAdmin()


def _guard_admin_account(user: User, actor_role: str) -> None:
    """A role granted user management may not touch an administrator's account."""
    if user.role == "admin" and actor_role != "admin":
        raise Forbidden("Only administrators can change an administrator's account")


async def update_user(
    session: AsyncSession,
    actor_id: int,
    user_id: int,
    changes: dict[str, Any],
    settings: Settings | None = None,
    *,
    actor_role: str = "admin",
) -> User:
    """Apply an administrator's changes; role, state and identity take effect at once."""
    if changes.get("role") and actor_role != "admin":
        raise Forbidden("Only administrators can change roles")
    user = await get_user(session, user_id)
    role = await ensure_role(session, changes["role"]) if changes.get("role") else user.role
    active = changes["is_active"] if changes.get("is_active") is not None else user.is_active
    if user_id == actor_id and not active:
        raise SelfChange("You cannot deactivate your own account")
    await _guard_last_admin(session, user, keeps_admin=role == "admin" and active)
    _guard_admin_account(user, actor_role)
    email = validated_email(changes["email"]) if changes.get("email") else user.email
    username = validated_username(changes["username"]) if changes.get("username") else user.username
    if email != user.email or username.lower() != user.username.lower():
        await ensure_unique(session, email, username, except_id=user.id)
    if changes.get("password"):
        check_password_policy(
            changes["password"], email=email, username=username, settings=settings
        )
        user.password_hash = hash_password(changes["password"])
    was = (user.role, user.is_active)
    user.role, user.is_active, user.email, user.username = role, active, email, username
    for field in ("full_name", "rpm_limit", "tpm_limit", "monthly_budget_usd"):
        if field in changes:
            setattr(user, field, changes[field])
    await session.flush()
    identity_changed(session)
    await _record(session, actor_id, "user.updated", "User updated", _described(user, was), user)
    return user


def _described(user: User, was: tuple[str, bool]) -> str:
    if was[1] != user.is_active:
        return f"{'reactivated' if user.is_active else 'deactivated'} user {user.username}"
    if was[0] != user.role:
        return f"changed the role of {user.username} to {user.role}"
    return f"updated user {user.username}"


async def delete_user(
    session: AsyncSession,
    actor_id: int,
    user_id: int,
    hooks: Sequence[UserDeletionHook] = (),
    *,
    actor_role: str = "admin",
) -> None:
    """Delete a user and everything they own.

    Rows that reference the user cascade (or are anonymised) through their foreign keys;
    the hooks remove what lives outside the database (files' bytes) first.
    """
    if user_id == actor_id:
        raise SelfChange("Cannot delete your own account")
    user = await get_user(session, user_id)
    await _guard_last_admin(session, user, keeps_admin=False)
    _guard_admin_account(user, actor_role)
    for hook in hooks:
        await hook(session, user_id)
    await _record(
        session, actor_id, "user.deleted", "User deleted", f"deleted user {user.username}", user
    )
    await session.execute(
        delete(User).where(User.id == user_id).execution_options(synchronize_session=False)
    )
    session.expunge(user)
    identity_changed(session)


def unique_username_base(name: str) -> str:
    """A username made from a display name or an email's local part."""
    base = re.sub(r"[^A-Za-z0-9._-]+", "_", name.strip()).strip("._-").lower()
    return (base or "user")[:56]


async def free_username(session: AsyncSession, name: str) -> str:
    base = unique_username_base(name)
    taken = set(
        await session.scalars(
            select(func.lower(User.username)).where(func.lower(User.username).like(f"{base}%"))
        )
    )
    if base not in taken:
        return base
    n = 2
    while f"{base}{n}" in taken:
        n += 1
    return f"{base}{n}"


async def create_by_admin(
    session: AsyncSession,
    settings: Settings,
    *,
    email: str,
    name: str,
    role: str = "user",
    password: str | None = None,
    auth_source: str | None = None,
    actor_id: int | None = None,
    actor_role: str = "admin",
) -> User:
    """An account made by an administrator (Vault); without a password it signs in by key."""
    if role.strip().lower() != "user" and actor_role != "admin":
        raise Forbidden("Only administrators can assign roles")
    email = validated_email(email)
    role = await ensure_role(session, role)
    username = await free_username(session, name if USERNAME.match(name) else email.split("@")[0])
    if password:
        check_password_policy(password, email=email, username=username, settings=settings)
    user = await create_user(
        session,
        email=email,
        username=username,
        password=password,
        role=role,
        full_name=name.strip(),
        auth_source=auth_source or "local",
    )
    await _record(
        session, actor_id, "user.created", "User created", f"created user {username}", user
    )
    return user


async def _record(
    session: AsyncSession, actor_id: int | None, action: str, title: str, what: str, user: User
) -> None:
    """An activity event for a change an administrator made to an account."""
    actor = await session.get(User, actor_id) if actor_id is not None else None
    name = (actor.full_name or actor.username) if actor is not None else "system"
    await activity_service.record(
        session,
        user_id=actor.id if actor is not None else None,
        name=name,
        type="user",
        action=action,
        title=title,
        description=f"{name} {what}",
        subject_type="user",
        subject_id=user.id,
    )


async def usernames(session: AsyncSession, user_ids: Sequence[int]) -> dict[int, str]:
    """Usernames of the given users (those that still exist)."""
    if not user_ids:
        return {}
    rows = await session.execute(select(User.id, User.username).where(User.id.in_(user_ids)))
    return dict(rows.tuples().all())


async def find_by_email(session: AsyncSession, email: str) -> User | None:
    return await session.scalar(select(User).where(User.email == normalise_email(email)))


async def set_password(
    session: AsyncSession, user: User, password: str, settings: Settings | None = None
) -> None:
    """Replace a user's password (policy checked); cached identities drop after the commit."""
    check_password_policy(password, email=user.email, username=user.username, settings=settings)
    user.password_hash = hash_password(password)
    await session.flush()
    identity_changed(session)


def may_manage(user: User, actor_role: str) -> None:
    """Raise unless `actor_role` may act on `user`'s account (admins' accounts: admins only)."""
    _guard_admin_account(user, actor_role)


async def llm_limits(session: AsyncSession, user_id: int) -> Any | None:
    """The user's own gateway limits (`rpm_limit`, `tpm_limit`, `monthly_budget_usd`, each
    None or 0 when unset), or None when the user does not exist."""
    statement = select(User.rpm_limit, User.tpm_limit, User.monthly_budget_usd).where(
        User.id == user_id
    )
    return (await session.execute(statement)).first()


# --- what identity composes a principal from -------------------------------------------------


async def get_active(session: AsyncSession, user_id: int) -> User | None:
    """The user, unless missing or deactivated."""
    user = await session.get(User, user_id)
    return user if user is not None and user.is_active else None


async def record_last_active(session: AsyncSession, seen: Mapping[int, datetime]) -> None:
    """Users' last activity, written off the request path (`identity.cache.ActivityRecorder`);
    `updated_at` is left alone, activity is not an edit."""
    for user_id, at in seen.items():
        await session.execute(
            update(User)
            .where(User.id == user_id)
            .values(last_active_at=at, updated_at=User.updated_at)
        )


# --- a user's permissions (users sit above roles, so the questions about both are here) -----


async def permissions_of_user(
    session: AsyncSession, principal: Principal, user_id: int
) -> dict[str, Any]:
    """One's own effective permissions, or anyone's with `permissions:read`."""
    if user_id != principal.user_id and not principal.can("permissions", "read"):
        raise UserNotFound()
    user = await get_user(session, user_id)
    return await rbac_service.user_permissions(
        session, user_id=user.id, username=user.username, role_id=user.role
    )


async def check_permission(
    session: AsyncSession,
    principal: Principal,
    *,
    resource: str,
    action: str,
    role_id: str | None = None,
    user_id: int | None = None,
) -> dict[str, Any]:
    """Whether a role, a user, or (with neither) the caller holds `resource:action`."""
    about_self = role_id is None and user_id in (None, principal.user_id)
    if not about_self and not principal.can("permissions", "read"):
        raise Forbidden()
    if about_self:
        result = await rbac_service.check(session, principal.role, resource, action)
        result["has_permission"] = principal.can(resource, action)
        result["user_id"] = str(principal.user_id)
    elif user_id is not None:
        user = await get_user(session, user_id)
        result = await rbac_service.check(session, user.role, resource, action)
        result["user_id"] = str(user.id)
    else:
        result = await rbac_service.check(session, role_id or "", resource, action)
    held = "holds" if result["has_permission"] else "does not hold"
    return {
        **result,
        "allowed": result["has_permission"],
        "reason": f"The role '{result['role_name']}' {held} {resource}:{action}",
        "effective_level": result["role_id"],
    }


async def count_users(session: AsyncSession, active_since: datetime) -> tuple[int, int]:
    """(all users, those active since `active_since`) in one query; activity is
    `last_active_at`, which the ActivityRecorder keeps off the request path."""
    active = func.count().filter(User.last_active_at >= active_since)
    total, recent = (await session.execute(select(func.count(), active))).one()
    return int(total), int(recent)
