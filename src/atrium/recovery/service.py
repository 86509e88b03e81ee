"""Password reset: one-time tokens, stored as digests, sent by email or issued by an admin."""

import hashlib
import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import quote

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from atrium.config import Settings
from atrium.db import after_commit, transaction, utcnow
from atrium.identity import service as identity_service
from atrium.mail.service import Mailer
from atrium.recovery.errors import InvalidResetToken
from atrium.recovery.tables import PasswordResetToken
from atrium.users import service as users_service
from atrium.users.service import Account

log = logging.getLogger("atrium.recovery")

FORGOT_MESSAGE = "If an account with that email exists, a password reset link has been sent to it."


@dataclass(frozen=True, slots=True)
class ResetLink:
    url: str
    expires_at: datetime


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def link_base(settings: Settings, request_base: str) -> str:
    """ATRIUM_PUBLIC_BASE_URL, else the address this request came to."""
    return (settings.public_base_url or request_base).rstrip("/")


async def issue(
    session: AsyncSession, settings: Settings, user: Account, base: str, *, issued_by: str
) -> ResetLink:
    token = secrets.token_urlsafe(32)
    expires_at = utcnow() + timedelta(minutes=settings.password_reset_minutes)
    session.add(
        PasswordResetToken(
            user_id=user.id, digest=_digest(token), issued_by=issued_by, expires_at=expires_at
        )
    )
    await session.flush()
    return ResetLink(f"{base}/reset-password?token={quote(token)}", expires_at)


async def issue_for_admin(
    session: AsyncSession, settings: Settings, actor_role: str, user_id: int, base: str
) -> ResetLink:
    user = await users_service.get_user(session, user_id)
    users_service.may_manage(user, actor_role)
    return await issue(session, settings, user, base, issued_by="admin")


def _reset_email(link: ResetLink, minutes: int) -> tuple[str, str]:
    text = (
        "Someone asked to reset the password of your Atrium account.\n\n"
        f"Choose a new password here (the link works once, for {minutes} minutes):\n"
        f"{link.url}\n\n"
        "If it was not you, ignore this message; your password stays as it is.\n"
    )
    return "Reset your Atrium password", text


async def send_reset_email(
    sessions: async_sessionmaker[AsyncSession],
    settings: Settings,
    mailer: Mailer,
    email: str,
    base: str,
) -> None:
    """Runs after the 202 is sent, so the answer is the same whether the account exists."""
    if not mailer.configured:
        return
    async with transaction(sessions) as session:
        user = await users_service.find_by_email(session, email)
        if user is None or not user.is_active:
            return
        link = await issue(session, settings, user, base, issued_by="email")
        address = user.email
    subject, text = _reset_email(link, settings.password_reset_minutes)
    await mailer.deliver(address, subject, text)


async def reset_password(
    session: AsyncSession, settings: Settings, mailer: Mailer, token: str, new_password: str
) -> None:
    """Spend a token, set the password, revoke the user's sessions; tell them by email."""
    now = utcnow()
    row = await session.scalar(
        select(PasswordResetToken).where(PasswordResetToken.digest == _digest(token))
    )
    if row is None or row.used_at is not None or row.expires_at <= now:
        raise InvalidResetToken()
    user = await users_service.get_user(session, row.user_id)
    if not user.is_active:
        raise InvalidResetToken()
    await users_service.set_password(session, user, new_password, settings)
    # a conditional update: of two concurrent resets with one token, one wins
    spent = await session.execute(
        update(PasswordResetToken)
        .where(PasswordResetToken.id == row.id, PasswordResetToken.used_at.is_(None))
        .values(used_at=now)
    )
    if spent.rowcount != 1:
        raise InvalidResetToken()
    await session.execute(
        update(PasswordResetToken)
        .where(PasswordResetToken.user_id == user.id, PasswordResetToken.used_at.is_(None))
        .values(used_at=now)
    )
    await identity_service.revoke_user_sessions(session, user.id)
    address = user.email

    async def notify() -> None:
        mailer.send_soon(
            address,
            "Your Atrium password was changed",
            "The password of your Atrium account was just reset, and every session was "
            "signed out.\nIf it was not you, contact your administrator at once.\n",
        )

    after_commit(session, notify)
