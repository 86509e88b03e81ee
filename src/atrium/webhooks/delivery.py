"""Sends due webhook deliveries: signed, SSRF-guarded (unless an administrator made the
webhook), no redirects, retried with back-off. One loop per process; a delivery is claimed by
a conditional update, so two processes never send the same attempt."""

import asyncio
import contextlib
import hashlib
import hmac
import logging
import time
from datetime import timedelta
from typing import Any

import httpcore
import httpx
import orjson
from cryptography.fernet import InvalidToken
from sqlalchemy import select, update

from atrium.db import utcnow
from atrium.security.ssrf import GuardedNetworkBackend
from atrium.webhooks import service as webhooks_service
from atrium.webhooks.tables import Webhook, WebhookDelivery

log = logging.getLogger("atrium.webhooks")
TIMEOUT = httpx.Timeout(10.0, connect=5.0)
CLAIM_SECONDS = 60  # a claimed attempt is retried by anyone after this long
IDLE_POLL_SECONDS = 5.0
BATCH = 20
Outcome = tuple[int | None, str | None]  # (HTTP status, error or None when delivered)


def sign(secret: str, timestamp: str, body: bytes) -> str:
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return f"sha256={digest.hexdigest()}"


class _GuardedTransport(httpx.AsyncHTTPTransport):
    def __init__(self) -> None:
        super().__init__()
        # httpx has no public hook for a network backend: same pool, guarded connections
        self._pool = httpcore.AsyncConnectionPool(network_backend=GuardedNetworkBackend())


class Deliverer:
    def __init__(self, app_state: Any) -> None:
        self.state = app_state
        self.base_seconds = app_state.settings.webhook_retry_base_seconds
        self.guarded = httpx.AsyncClient(
            transport=_GuardedTransport(), timeout=TIMEOUT, follow_redirects=False, trust_env=False
        )
        self.open = httpx.AsyncClient(timeout=TIMEOUT, follow_redirects=False, trust_env=False)
        self.wake = asyncio.Event()
        self.task: asyncio.Task[None] | None = None

    async def kick(self) -> None:
        self.wake.set()

    async def start(self) -> None:
        self.task = asyncio.create_task(self._loop())

    async def close(self) -> None:
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task
        await self.guarded.aclose()
        await self.open.aclose()

    async def _loop(self) -> None:
        while True:
            try:
                await self.run_due()
            except Exception:
                log.exception("webhook delivery pass failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wake.wait(), IDLE_POLL_SECONDS)
            self.wake.clear()

    async def run_due(self) -> int:
        """Send every delivery due now; the number attempted."""
        async with self.state.db.sessions() as session:
            due = list(
                await session.scalars(
                    select(WebhookDelivery.id)
                    .where(
                        WebhookDelivery.status == "pending",
                        WebhookDelivery.next_attempt_at <= utcnow(),
                    )
                    .order_by(WebhookDelivery.next_attempt_at)
                    .limit(BATCH)
                )
            )
        sent = 0
        for delivery_id in due:
            sent += await self._attempt(delivery_id)
        return sent

    async def settle(self, max_seconds: float = 30.0) -> None:
        """Deliver until nothing is pending (tests, shutdown); retries wait their back-off."""
        deadline = time.monotonic() + max_seconds
        while time.monotonic() < deadline:
            await self.run_due()
            async with self.state.db.sessions() as session:
                upcoming = await session.scalar(
                    select(WebhookDelivery.next_attempt_at)
                    .where(WebhookDelivery.status == "pending")
                    .order_by(WebhookDelivery.next_attempt_at)
                    .limit(1)
                )
            if upcoming is None:
                return
            await asyncio.sleep(max(0.0, (upcoming - utcnow()).total_seconds()) + 0.01)

    async def _claim(self, delivery_id: int) -> tuple[WebhookDelivery, Webhook] | None:
        async with self.state.db.sessions() as session:
            now = utcnow()
            claimed = await session.execute(
                update(WebhookDelivery)
                .where(
                    WebhookDelivery.id == delivery_id,
                    WebhookDelivery.status == "pending",
                    WebhookDelivery.next_attempt_at <= now,
                )
                .values(next_attempt_at=now + timedelta(seconds=CLAIM_SECONDS))
            )
            if claimed.rowcount != 1:
                await session.rollback()
                return None
            delivery = await session.get(WebhookDelivery, delivery_id)
            webhook = await session.get(Webhook, delivery.webhook_id) if delivery else None
            await session.commit()
        if delivery is None or webhook is None:
            return None
        return delivery, webhook

    async def _attempt(self, delivery_id: int) -> int:
        claimed = await self._claim(delivery_id)
        if claimed is None:
            return 0
        delivery, webhook = claimed
        status_code, error = await self._send(delivery, webhook)
        attempts = delivery.attempts + 1
        now = utcnow()
        values: dict[str, Any] = {"attempts": attempts, "response_status": status_code}
        if error is None:
            values.update(status="delivered", delivered_at=now, last_error=None)
            values["next_attempt_at"] = None
        else:
            retry_at = webhooks_service.next_attempt(now, attempts, self.base_seconds)
            values.update(
                last_error=error[:500],
                next_attempt_at=retry_at,
                status="pending" if retry_at else "failed",
            )
        async with self.state.db.sessions() as session:
            await session.execute(
                update(WebhookDelivery).where(WebhookDelivery.id == delivery_id).values(**values)
            )
            await session.commit()
        return 1

    async def _send(
        self, delivery: WebhookDelivery, webhook: Webhook
    ) -> tuple[int | None, str | None]:
        try:
            secret = self.state.secrets.fernet.decrypt(webhook.secret_encrypted).decode()
        except InvalidToken:
            return None, "The webhook's secret cannot be decrypted with the current keys"
        body = orjson.dumps(delivery.payload)
        timestamp = str(int(time.time()))
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "Atrium-Webhooks/1",
            "X-Atrium-Event": delivery.event,
            "X-Atrium-Delivery": str(delivery.id),
            "X-Atrium-Timestamp": timestamp,
            "X-Atrium-Signature": sign(secret, timestamp, body),
        }
        client = self.open if webhook.allow_private else self.guarded
        try:
            response = await client.post(webhook.url, content=body, headers=headers)
        except Exception as exc:  # refused address, DNS, TLS, timeout: all retried
            return None, f"{type(exc).__name__}: {exc}"
        if 200 <= response.status_code < 300:
            return response.status_code, None
        return response.status_code, f"HTTP {response.status_code}"
