"""User accounts: creation and lookups shared by auth, admin surfaces and the CLI."""

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from atrium.config import Settings
from atrium.errors import Conflict
from atrium.security.passwords import hash_password
from atrium.users.tables import User


class DuplicateUser(Conflict):
    code = "user_exists"


def normalise_email(email: str) -> str:
    return email.strip().lower()


async def find_by_login(session: AsyncSession, login: str) -> User | None:
    """A login name is an email or a username, compared case-insensitively."""
    login = login.strip().lower()
    return await session.scalar(
        select(User).where(or_(User.email == login, func.lower(User.username) == login))
    )


async def ensure_unique(session: AsyncSession, email: str, username: str) -> None:
    clash = await session.scalar(
        select(User).where(
            or_(User.email == normalise_email(email), func.lower(User.username) == username.lower())
        )
    )
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
    )
    session.add(user)
    await session.flush()
    return user


async def has_active_admin(session: AsyncSession) -> bool:
    admin = await session.scalar(
        select(User.id).where(User.role == "admin", User.is_active.is_(True)).limit(1)
    )
    return admin is not None


def check_password_policy(password: str, *, email: str, username: str) -> None:
    from atrium.security.passwords import check_policy

    check_policy(password, email=email, username=username)


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
