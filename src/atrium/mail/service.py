"""Outgoing email: one `send` coroutine and a `Mailer` that sends after the response.

The standard library's smtplib runs in a worker thread, so a slow or unreachable mail server
never blocks the event loop; `Mailer.send_soon` schedules a message without waiting for it,
so no response waits on SMTP either.
"""

import asyncio
import logging
import smtplib
from email.message import EmailMessage

from atrium.config import Settings

log = logging.getLogger("atrium.mail")

SMTP_TIMEOUT_SECONDS = 30.0


class MailNotConfigured(RuntimeError):
    pass


def is_configured(settings: Settings) -> bool:
    return bool(settings.smtp_host)


def sender(settings: Settings) -> str:
    return settings.smtp_from or settings.smtp_username or f"atrium@{settings.smtp_host}"


def build_message(
    settings: Settings, to: str, subject: str, text: str, html: str | None = None
) -> EmailMessage:
    message = EmailMessage()
    message["From"] = sender(settings)
    message["To"] = to
    message["Subject"] = subject
    message.set_content(text)
    if html is not None:
        message.add_alternative(html, subtype="html")
    return message


def _deliver(settings: Settings, message: EmailMessage) -> None:
    with smtplib.SMTP(
        settings.smtp_host or "", settings.smtp_port, timeout=SMTP_TIMEOUT_SECONDS
    ) as smtp:
        if settings.smtp_starttls:
            smtp.starttls()
        if settings.smtp_username and settings.smtp_password:
            smtp.login(settings.smtp_username, settings.smtp_password.get_secret_value())
        smtp.send_message(message)


async def send(
    settings: Settings, to: str, subject: str, text: str, html: str | None = None
) -> None:
    """Send one message; raises `MailNotConfigured` without ATRIUM_SMTP_HOST, or SMTP errors."""
    if not is_configured(settings):
        raise MailNotConfigured("Set ATRIUM_SMTP_HOST to send email")
    message = build_message(settings, to, subject, text, html)
    await asyncio.to_thread(_deliver, settings, message)


class Mailer:
    """Sends in the background; failures are logged, never raised into a request."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._pending: set[asyncio.Task[None]] = set()

    @property
    def configured(self) -> bool:
        return is_configured(self.settings)

    async def deliver(self, to: str, subject: str, text: str, html: str | None = None) -> bool:
        """Send now and report whether it went; for callers already off the request path."""
        if not self.configured:
            return False
        try:
            await send(self.settings, to, subject, text, html)
        except (OSError, smtplib.SMTPException) as exc:
            log.warning("email to %s not sent: %s", to, exc)
            return False
        return True

    def send_soon(self, to: str, subject: str, text: str, html: str | None = None) -> None:
        if not self.configured:
            return
        task = asyncio.create_task(self.deliver(to, subject, text, html))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def drain(self) -> None:
        """Wait for messages still being sent (on shutdown)."""
        if self._pending:
            await asyncio.gather(*self._pending, return_exceptions=True)
