"""Sign-up, sign-in, refresh-token rotation and logout."""

import base64
import hashlib
import hmac
import os
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from atrium.activity import service as activity_service
from atrium.auth.principal import CACHE_KEY
from atrium.config import Settings
from atrium.db import utcnow
from atrium.errors import Forbidden, Unauthorized
from atrium.identity.tables import RefreshToken, RevokedAccessToken
from atrium.security.passwords import hash_password, needs_rehash, verify_password
from atrium.security.secrets import ServerSecrets
from atrium.security.throttle import LoginThrottle, RedisLoginThrottle
from atrium.security.tokens import (
    AccessClaims,
    InvalidToken,
    decode_access_token,
    issue_access_token,
    looks_like_jwt,
)
from atrium.settings_store import service as settings_service
from atrium.users import service as users_service
from atrium.users.service import Account


class InvalidCredentials(Unauthorized):
    code = "invalid_credentials"
    detail = "Incorrect username/email or password"


class AccountDisabled(Forbidden):
    code = "account_disabled"
    detail = "This account is deactivated"


class RegistrationClosed(Forbidden):
    code = "registration_closed"
    detail = "Registration is closed on this instance; ask an administrator for an account"


class InvalidRefreshToken(Unauthorized):
    code = "invalid_refresh_token"
    detail = "The refresh token is invalid or expired"


@dataclass(frozen=True, slots=True)
class IssuedTokens:
    access_token: str
    refresh_token: str | None
    expires_in: int


@dataclass(frozen=True, slots=True)
class RefreshOutcome:
    """Either new tokens, or `family_revoked` (a reused token); the caller answers 401."""

    tokens: IssuedTokens | None = None
    family_revoked: bool = False


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def successor_of(secrets_: ServerSecrets, token: str) -> str:
    """The rotated token is derived from the old one, so parallel refreshes agree on it."""
    mac = hmac.new(secrets_.derive("refresh-successor"), token.encode(), hashlib.sha256)
    return base64.urlsafe_b64encode(mac.digest()).rstrip(b"=").decode()


def access_token_for(secrets_: ServerSecrets, settings: Settings, user: Account) -> str:
    return issue_access_token(
        secrets_.jwt_key,
        user_id=user.id,
        role=user.role,
        lifetime=timedelta(minutes=settings.access_token_minutes),
    )


def _refresh_expiry(settings: Settings) -> datetime:
    return utcnow() + timedelta(days=settings.refresh_token_days)


async def issue_tokens(
    session: AsyncSession,
    secrets_: ServerSecrets,
    settings: Settings,
    user: Account,
    *,
    with_refresh: bool = True,
) -> IssuedTokens:
    refresh = None
    if with_refresh:
        refresh = secrets.token_urlsafe(32)
        session.add(
            RefreshToken(
                user_id=user.id,
                family_id=os.urandom(16).hex(),
                digest=token_digest(refresh),
                expires_at=_refresh_expiry(settings),
            )
        )
        await session.flush()
    return IssuedTokens(
        access_token=access_token_for(secrets_, settings, user),
        refresh_token=refresh,
        expires_in=settings.access_token_minutes * 60,
    )


async def register(
    session: AsyncSession,
    settings: Settings,
    *,
    email: str,
    username: str,
    password: str,
    full_name: str | None = None,
) -> Account:
    if not await settings_service.registration_open(session, settings):
        raise RegistrationClosed()
    email = users_service.validated_email(email)
    username = users_service.validated_username(username)
    users_service.check_password_policy(password, email=email, username=username, settings=settings)
    budget = settings.default_user_budget_usd or None
    user = await users_service.create_user(
        session,
        email=email,
        username=username,
        password=password,
        role="user",
        full_name=full_name,
        monthly_budget_usd=budget,
    )
    await activity_service.record(
        session,
        user_id=user.id,
        name=user.full_name or user.username,
        type="user",
        action="user.registered",
        title="User registered",
        description=f"{user.username} registered",
        subject_type="user",
        subject_id=user.id,
    )
    return user


async def login(
    session: AsyncSession,
    throttle: LoginThrottle | RedisLoginThrottle,
    address: str,
    login_name: str,
    password: str,
    *,
    by_display_name: bool = False,
) -> Account:
    """The user whose password matches; unknown users cost the same hash as a wrong password."""
    await throttle.check(login_name, address)
    user = await users_service.find_by_login(session, login_name)
    if user is None and by_display_name:
        user = await users_service.find_by_name(session, login_name)
    if not verify_password(user.password_hash if user else None, password) or user is None:
        await throttle.failure(login_name, address)
        raise InvalidCredentials()
    await throttle.success(login_name, address)
    if not user.is_active:
        raise AccountDisabled()
    if user.password_hash and needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    return user


async def rotate_refresh(
    session: AsyncSession, secrets_: ServerSecrets, settings: Settings, token: str
) -> RefreshOutcome:
    """Exchange a refresh token.

    Each use rotates it; a rotated token presented again within the grace window gets the
    same successor back, later it revokes its whole family.
    """
    now = utcnow()
    row = await session.scalar(
        select(RefreshToken).where(RefreshToken.digest == token_digest(token))
    )
    if row is None or row.revoked_at is not None or row.expires_at <= now:
        raise InvalidRefreshToken()
    user = await users_service.get_active(session, row.user_id)
    if user is None:
        raise InvalidRefreshToken()
    if not settings.refresh_rotation:
        return RefreshOutcome(IssuedTokens(access_token_for(secrets_, settings, user), token, 0))
    successor = successor_of(secrets_, token)
    claimed = await session.execute(
        update(RefreshToken)
        .where(RefreshToken.id == row.id, RefreshToken.rotated_at.is_(None))
        .values(rotated_at=now)
    )
    if claimed.rowcount == 1:
        session.add(
            RefreshToken(
                user_id=user.id,
                family_id=row.family_id,
                digest=token_digest(successor),
                expires_at=_refresh_expiry(settings),
            )
        )
        await session.flush()
    else:
        await session.refresh(row)
        rotated_at = row.rotated_at or now
        if now - rotated_at > timedelta(seconds=settings.refresh_grace_seconds):
            await revoke_family(session, row.family_id)
            return RefreshOutcome(family_revoked=True)
    access = access_token_for(secrets_, settings, user)
    return RefreshOutcome(IssuedTokens(access, successor, settings.access_token_minutes * 60))


async def revoke_family(session: AsyncSession, family_id: str) -> None:
    await session.execute(
        update(RefreshToken)
        .where(RefreshToken.family_id == family_id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )


async def revoke_refresh(session: AsyncSession, token: str) -> bool:
    """Logout: revoke the token's family. False when the token is unknown or already dead."""
    row = await session.scalar(
        select(RefreshToken).where(RefreshToken.digest == token_digest(token))
    )
    if row is None or row.revoked_at is not None:
        return False
    await revoke_family(session, row.family_id)
    return True


async def revoke_access(session: AsyncSession, claims: AccessClaims) -> None:
    """Deny an access token's `jti` until it expires, in this process and in the table."""
    cache = session.info.get(CACHE_KEY)
    if cache is not None:
        cache.deny_jti(claims.jti, claims.expires_at)
        cache.invalidate_after_commit(session)
    if await session.get(RevokedAccessToken, claims.jti) is None:
        session.add(RevokedAccessToken(jti=claims.jti, expires_at=claims.expires_at))
    await session.flush()


async def logout(
    session: AsyncSession, jwt_key: bytes, refresh_token: str | None, bearer: str | None
) -> None:
    """Revoke the refresh token's family and, with a bearer JWT, that access token."""
    revoked = False
    if refresh_token:
        revoked = await revoke_refresh(session, refresh_token)
    if bearer and looks_like_jwt(bearer):
        try:
            claims = decode_access_token(jwt_key, bearer)
        except InvalidToken:
            claims = None
        if claims is not None:
            await revoke_access(session, claims)
            revoked = True
    if not revoked:
        raise Unauthorized("Give a valid refreshToken in the body or a bearer access token")


async def revoke_user_sessions(session: AsyncSession, user_id: int) -> None:
    """Revoke every live refresh token of a user (a password reset signs them out)."""
    await session.execute(
        update(RefreshToken)
        .where(RefreshToken.user_id == user_id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )
