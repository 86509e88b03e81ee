"""Fixtures: an app on a fresh real database per test module (SQLite, or PostgreSQL with
ATRIUM_TEST_BACKEND=postgres), a TestClient, and factories for users, tokens and keys."""

import itertools
import os
import secrets
import shutil
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from atrium.app import create_app
from atrium.auth.principal import key_digest
from atrium.config import Settings
from atrium.keys.tables import ApiKey
from atrium.migrate import upgrade
from atrium.security.tokens import issue_access_token
from atrium.users import service as users_service
from tests import services

BACKEND = os.environ.get("ATRIUM_TEST_BACKEND", "sqlite")
TEST_JWT_SECRET = "test-signing-key-" + "x" * 32
TEST_FERNET_KEY = "aNWvxx8ROlGIUdSAJQ1sxP9yeVSxdrZK5X7ynC1JzYY="


def pytest_report_header() -> str:
    return f"atrium database backend: {BACKEND}"


@pytest.fixture(scope="session")
def database_template(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[[], str]]:
    """Migrates one template database, then hands out fresh copies of it."""
    run_id = uuid.uuid4().hex[:8]
    if BACKEND == "postgres":
        server = services.postgres_server()
        if server is None:
            services.unavailable("PostgreSQL")
        template = f"atrium_tpl_{run_id}"
        upgrade(services.create_database(server, template))
        created: list[str] = []

        def fresh_postgres() -> str:
            name = f"atrium_t_{run_id}_{len(created)}"
            created.append(name)
            return services.create_database(server, name, template=template)

        yield fresh_postgres
        for name in [*created, template]:
            services.drop_database(server, name)
        return

    root = tmp_path_factory.mktemp("db")
    template_path = root / "template.db"
    upgrade(f"sqlite+aiosqlite:///{template_path}")
    counter = itertools.count()

    def fresh_sqlite() -> str:
        path = root / f"test-{next(counter)}.db"
        shutil.copyfile(template_path, path)
        return f"sqlite+aiosqlite:///{path}"

    yield fresh_sqlite


def make_settings(data_dir: Path, database_url: str, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "data_dir": data_dir,
        "database_url": database_url,
        "jwt_secret": TEST_JWT_SECRET,
        "encryption_keys": TEST_FERNET_KEY,
        "log_requests": False,
        "login_max_failures": 1000,
        **overrides,
    }
    return Settings(_env_file=None, **values)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def settings_overrides() -> dict[str, object]:
    """Override in a test module to change settings for its app."""
    return {}


@pytest.fixture(scope="module")
def app(
    tmp_path_factory: pytest.TempPathFactory,
    database_template: Callable[[], str],
    settings_overrides: dict[str, object],
) -> FastAPI:
    data_dir = tmp_path_factory.mktemp("data")
    return create_app(make_settings(data_dir, database_template(), **settings_overrides))


@pytest.fixture(scope="module")
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.fixture
def run(client: TestClient) -> Callable:
    """Run an async function on the app's event loop: run(fn, *args)."""
    return lambda fn, *args, **kwargs: client.portal.call(lambda: fn(*args, **kwargs))


@dataclass
class TestUser:
    __test__ = False  # a fixture's value, not a test class

    id: int
    email: str
    username: str
    password: str
    role: str
    token: str
    headers: dict[str, str] = field(default_factory=dict)


_serial = itertools.count(1)


def make_user(
    client: TestClient,
    app: FastAPI,
    role: str = "user",
    *,
    password: str | None = None,
    **fields: str,
) -> TestUser:
    n = next(_serial)
    email = fields.get("email") or f"user{n}-{uuid.uuid4().hex[:6]}@example.com"
    username = fields.get("username") or f"user{n}_{uuid.uuid4().hex[:6]}"
    password = password or f"Pw-{secrets.token_hex(8)}"

    async def insert() -> int:
        async with app.state.db.sessions() as session:
            user = await users_service.create_user(
                session,
                email=email,
                username=username,
                password=password,
                role=role,
                full_name=fields.get("full_name"),
            )
            await session.commit()
            return user.id

    user_id = client.portal.call(insert)
    token = access_token_for(app, user_id, role)
    return TestUser(
        user_id, email, username, password, role, token, {"Authorization": f"Bearer {token}"}
    )


@pytest.fixture
def create_user(client: TestClient, app: FastAPI) -> Callable[..., TestUser]:
    return lambda role="user", **fields: make_user(client, app, role, **fields)


@pytest.fixture(scope="module")
def module_admin(client: TestClient, app: FastAPI) -> TestUser:
    """An administrator for a module's module-scoped fixtures (providers, shared data)."""
    return make_user(client, app, "admin")


def access_token_for(app: FastAPI, user_id: int, role: str, minutes: int = 30) -> str:
    return issue_access_token(
        app.state.secrets.jwt_key, user_id=user_id, role=role, lifetime=timedelta(minutes=minutes)
    )


@pytest.fixture
def as_user(create_user: Callable[..., TestUser]) -> Callable[[str], dict[str, str]]:
    """Headers of a fresh user with the given role."""
    return lambda role="user": create_user(role).headers


@pytest.fixture
def admin(create_user: Callable[..., TestUser]) -> TestUser:
    return create_user("admin")


@pytest.fixture
def api_key(client: TestClient, app: FastAPI) -> Callable[..., str]:
    """A raw API key for a user: api_key(user, scopes=None) -> secret (inserted directly)."""

    def factory(user: TestUser, scopes: list[str] | None = None) -> str:
        secret = f"atr_{secrets.token_urlsafe(32)}"

        async def insert() -> None:
            async with app.state.db.sessions() as session:
                session.add(
                    ApiKey(
                        user_id=user.id,
                        name="test",
                        prefix=secret[:12],
                        digest=key_digest(secret),
                        scopes=scopes,
                    )
                )
                await session.commit()

        client.portal.call(insert)
        return secret

    return factory
