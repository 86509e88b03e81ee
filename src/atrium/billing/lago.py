"""A small asynchronous client for Lago's REST API (httpx).

lago-python-client is synchronous: every call would block the event loop or need a thread,
and it adds models for the whole API where the sync needs four paginated lists and the
events endpoint. httpx is already the service's HTTP client, pools connections and is async.
"""

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from atrium.config import Settings
from atrium.security.secrets import load_secrets
from atrium.settings_store import service as settings_service

PER_PAGE = 100
MAX_PAGES = 100_000
SUBSCRIPTION_STATUSES = ("active", "pending", "canceled", "terminated")


class LagoError(Exception):
    """Lago could not be reached or refused the call; the message names the cause."""

    def __init__(self, message: str, *, status: int | None = None, body: Any = None) -> None:
        super().__init__(message)
        self.status = status
        self.body = body


@dataclass(frozen=True, slots=True)
class LagoConfig:
    url: str
    key: str


def config_of(settings: Settings) -> LagoConfig | None:
    """Lago's address and key from settings an API process keeps live (admin settings over
    the environment), or None when either is missing."""
    if not (settings.lago_api_url and settings.lago_api_key):
        return None
    return LagoConfig(settings.lago_api_url, settings.lago_api_key.get_secret_value())


def configured(settings: Settings) -> bool:
    return config_of(settings) is not None


async def stored_config(session: AsyncSession, settings: Settings) -> LagoConfig | None:
    """The same, read from the database: what a worker process (which keeps no live settings)
    uses, so that keys an administrator set reach every executor."""
    url = await settings_service.get_value(session, settings, settings_service.LAGO_API_URL)
    key = await settings_service.secret_value(
        session, settings, settings_service.LAGO_API_KEY, _decrypt(settings)
    )
    return LagoConfig(url, key) if url and key else None


def _decrypt(settings: Settings):
    fernet = load_secrets(settings).fernet
    return lambda token: fernet.decrypt(token.encode()).decode()


class LagoClient:
    def __init__(self, config: LagoConfig | None, *, timeout: float = 20.0) -> None:
        if config is None:
            raise LagoError("Lago is not configured (LAGO_API_URL and LAGO_API_KEY)")
        self.config = config
        self.base_url = config.url.rstrip("/")
        key = config.key
        self.http = httpx.AsyncClient(
            base_url=self.base_url,
            headers={"Authorization": f"Bearer {key}", "Accept": "application/json"},
            timeout=timeout,
            follow_redirects=False,
        )

    async def close(self) -> None:
        await self.http.aclose()

    async def __aenter__(self) -> "LagoClient":
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.close()

    async def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = await self.http.request(method, path, **kwargs)
        except httpx.TimeoutException as exc:
            raise LagoError(f"Lago at {self.base_url} did not answer in time ({exc!r})") from exc
        except httpx.HTTPError as exc:
            raise LagoError(f"Lago at {self.base_url} is unreachable ({exc!r})") from exc
        if response.status_code == 401:
            raise LagoError("Lago refused the API key (401 Unauthorized)", status=401)
        return response

    @staticmethod
    def _json(response: httpx.Response, path: str) -> dict[str, Any]:
        if response.status_code >= 400:
            raise LagoError(
                f"Lago answered {response.status_code} to {path}: {response.text[:300]}",
                status=response.status_code,
            )
        try:
            body = response.json()
        except ValueError as exc:
            raise LagoError(f"Lago sent a body that is not JSON for {path}") from exc
        if not isinstance(body, dict):
            raise LagoError(f"Lago sent an unexpected body for {path}")
        return body

    async def pages(
        self, path: str, key: str, params: list[tuple[str, Any]] | None = None
    ) -> AsyncIterator[list[dict[str, Any]]]:
        """Every page of a Lago list, following `meta.next_page`."""
        page = 1
        for _ in range(MAX_PAGES):
            query = [*(params or []), ("page", page), ("per_page", PER_PAGE)]
            body = self._json(await self.request("GET", path, params=query), path)
            items = body.get(key)
            if not isinstance(items, list):
                raise LagoError(f"Lago's answer to {path} has no {key!r} list")
            yield items
            next_page = (body.get("meta") or {}).get("next_page")
            if not next_page:
                return
            page = int(next_page)
        raise LagoError(f"{path} has more than {MAX_PAGES} pages")

    async def list_all(self, path: str, key: str, params=None) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        async for page in self.pages(path, key, params):
            items.extend(page)
        return items

    async def fetch_everything(self) -> dict[str, list[dict[str, Any]]]:
        statuses = [("status[]", status) for status in SUBSCRIPTION_STATUSES]
        return {
            "customers": await self.list_all("/api/v1/customers", "customers"),
            "plans": await self.list_all("/api/v1/plans", "plans"),
            "subscriptions": await self.list_all(
                "/api/v1/subscriptions", "subscriptions", statuses
            ),
            "invoices": await self.list_all("/api/v1/invoices", "invoices"),
        }

    async def send_event(self, event: dict[str, Any]) -> httpx.Response:
        return await self.request("POST", "/api/v1/events", json={"event": event})
