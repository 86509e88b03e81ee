"""What a scenario's setup receives: where the servers are, a client, and an admin."""

from contextlib import AsyncExitStack
from dataclasses import dataclass, field

import httpx

from bench.errors import ScenarioFailed, Skip
from bench.rss import RssSampler


@dataclass(frozen=True)
class Admin:
    email: str
    username: str
    password: str
    access_token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.access_token}"}


@dataclass
class BenchContext:
    """`client` talks to Atrium (`base_url`); `stack` closes what a setup starts, at the end."""

    base_url: str
    hello_url: str
    client: httpx.AsyncClient
    stack: AsyncExitStack
    server_pid: int | None = None
    hello_pid: int | None = None
    admin: Admin | None = None
    admin_error: str | None = None
    peer: "BenchContext | None" = None  # the scenario's second server, when it names one
    _api_key: str | None = field(default=None, repr=False)

    def require_admin(self) -> Admin:
        if self.admin is not None:
            return self.admin
        if self.admin_error is not None:
            raise ScenarioFailed(self.admin_error)
        raise Skip("no admin in this run (Atrium not started, or a stand-in serves instead)")

    async def api_key(self) -> str:
        """An API key of the admin's, created once per run through `POST /api/v1/tokens`."""
        if self._api_key is None:
            admin = self.require_admin()
            response = await self.client.post(
                "/api/v1/tokens", json={"name": "bench"}, headers=admin.headers
            )
            ensure_success(response, "creating an API key")
            self._api_key = response.json()["token"]
        return self._api_key

    def sample_rss(self) -> RssSampler:
        if self.server_pid is None:
            raise Skip("no server to sample in this run")
        return RssSampler(self.server_pid)


def ensure_success(response: httpx.Response, action: str) -> None:
    if not response.is_success:
        raise ScenarioFailed(f"{action}: HTTP {response.status_code} {response.text[:200]}")
