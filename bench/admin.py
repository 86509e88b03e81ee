"""The run's admin: made on the server's first start from ATRIUM_ADMIN_*, else by the CLI.

The CLI is the fallback only when the login is refused (401), i.e. the server ignored the env.
"""

import asyncio
import secrets
from collections.abc import Mapping
from dataclasses import dataclass

import httpx

from bench.context import Admin
from bench.servers import VENV_BIN

LOGIN_PATH = "/api/v1/auth/login"


@dataclass(frozen=True)
class Credentials:
    email: str
    username: str
    password: str

    @property
    def env(self) -> dict[str, str]:
        return {
            "ATRIUM_ADMIN_EMAIL": self.email,
            "ATRIUM_ADMIN_USERNAME": self.username,
            "ATRIUM_ADMIN_PASSWORD": self.password,
        }


class AdminUnavailable(Exception):
    pass


def new_credentials() -> Credentials:
    password = f"Bench-{secrets.token_urlsafe(12)}-9a!"
    return Credentials(email="bench@example.com", username="bench", password=password)


async def obtain_admin(
    client: httpx.AsyncClient, credentials: Credentials, server_env: Mapping[str, str]
) -> Admin:
    response = await log_in(client, credentials)
    if response.status_code == 401:
        await create_with_cli(credentials, server_env)
        response = await log_in(client, credentials)
    if not response.is_success:
        raise AdminUnavailable(
            f"POST {LOGIN_PATH} as the admin: HTTP {response.status_code} {response.text[:200]}"
        )
    return Admin(
        credentials.email, credentials.username, credentials.password, access_token(response)
    )


async def log_in(client: httpx.AsyncClient, credentials: Credentials) -> httpx.Response:
    body = {"email": credentials.email, "password": credentials.password}
    return await client.post(LOGIN_PATH, json=body)


def access_token(response: httpx.Response) -> str:
    body = response.json()
    token = (body.get("tokens") or {}).get("accessToken") or body.get("access_token")
    if not token:
        raise AdminUnavailable(f"no access token in the login response: {str(body)[:200]}")
    return token


async def create_with_cli(credentials: Credentials, server_env: Mapping[str, str]) -> None:
    command = [str(VENV_BIN / "atrium"), "users", "create", "--admin"]
    command += ["--email", credentials.email, "--username", credentials.username]
    process = await asyncio.create_subprocess_exec(
        *command, "--password-stdin",
        env=dict(server_env), stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    output, _ = await process.communicate(f"{credentials.password}\n".encode())
    if process.returncode != 0:
        raise AdminUnavailable(f"`atrium users create` failed: {output.decode().strip()[-300:]}")
