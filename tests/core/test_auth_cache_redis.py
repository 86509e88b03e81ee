"""With Redis, an identity change made through one server process applies in every other one
on its very next request (the shared epoch of AuthCache)."""

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from atrium.app import create_app
from tests import services
from tests.conftest import BACKEND, TestUser, make_settings, make_user


@pytest.fixture(scope="module")
def two_processes(
    tmp_path_factory: pytest.TempPathFactory, database_template
) -> Iterator[tuple[TestClient, TestClient]]:
    if BACKEND != "sqlite":
        pytest.skip("one leg is enough: the epoch lives in Redis, not in the database")
    redis_url = services.redis_server()
    if redis_url is None:
        services.unavailable("Redis")
    database_url = database_template()
    data_dir: Path = tmp_path_factory.mktemp("shared")
    # a fresh key namespace per run: the epoch key is shared by every app on this Redis
    settings = {"redis_url": f"{redis_url}", "jwt_secret": "shared-" + uuid.uuid4().hex * 2}
    first = create_app(make_settings(data_dir, database_url, **settings))
    second = create_app(make_settings(data_dir, database_url, **settings))
    with TestClient(first) as one, TestClient(second) as two:
        yield one, two


def test_deactivation_in_one_process_refuses_the_user_in_the_other(two_processes) -> None:
    one, two = two_processes
    admin: TestUser = make_user(one, one.app, "admin")
    user: TestUser = make_user(one, one.app, "user")
    assert two.get("/api/v1/auth/me", headers=user.headers).status_code == 200  # cached in two

    response = one.patch(
        f"/api/v1/admin/users/{user.id}", json={"is_active": False}, headers=admin.headers
    )
    assert response.status_code == 200, response.text

    assert two.get("/api/v1/auth/me", headers=user.headers).status_code == 401


def test_role_change_in_one_process_applies_in_the_other(two_processes) -> None:
    one, two = two_processes
    admin: TestUser = make_user(one, one.app, "admin")
    user: TestUser = make_user(one, one.app, "user")
    assert two.get("/api/v1/admin/users", headers=user.headers).status_code == 403

    response = one.patch(
        f"/api/v1/admin/users/{user.id}", json={"role": "admin"}, headers=admin.headers
    )
    assert response.status_code == 200, response.text

    assert two.get("/api/v1/admin/users", headers=user.headers).status_code == 200
