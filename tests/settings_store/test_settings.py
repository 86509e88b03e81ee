"""The one settings store: new keys, validation that changes nothing, live application."""

import uuid
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from atrium.app import create_app
from tests import services
from tests.conftest import BACKEND, make_settings, make_user

SETTINGS = "/api/v1/admin/settings"


def preflight(client, origin):
    return client.options(
        "/api/v1/projects",
        headers={"Origin": origin, "Access-Control-Request-Method": "GET"},
    )


def test_new_keys_round_trip_and_secrets_stay_hidden(client, admin):
    body = {
        "cors_origins": ["https://app.example.com"],
        "trusted_proxies": ["10.0.0.0/8"],
        "public_base_url": "https://atrium.example.com/",
        "smtp_host": "mail.example.com",
        "smtp_port": 2525,
        "smtp_password": "hunter2-secret",
        "smtp_from": "noreply@example.com",
        "traefik_api_url": "http://127.0.0.1:8080",
        "audit_log_retention_days": 30,
    }
    saved = client.put(SETTINGS, json=body, headers=admin.headers)
    assert saved.status_code == 200, saved.text
    read = client.get(SETTINGS, headers=admin.headers).json()
    assert read["public_base_url"] == "https://atrium.example.com"
    assert read["smtp_port"] == 2525 and read["smtp_password_set"] is True
    assert "hunter2-secret" not in str(read) and "smtp_password" not in read
    assert read["registration_open"] is True  # untouched keys keep their values
    assert client.app.state.settings.audit_log_retention_days == 30  # applied in the process


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"cors_origins": ["not a url"]}, "cors_origins"),
        ({"trusted_proxies": ["10.0.0.300"]}, "trusted_proxies"),
        ({"max_upload_bytes": 0}, "max_upload_bytes"),
        ({"smtp_port": 70000}, "smtp_port"),
        ({"display_timezone": "Mars/Olympus"}, "display_timezone"),
        ({"traefik_dynamic_file": "relative.yml"}, "traefik_dynamic_file"),
    ],
)
def test_invalid_values_are_422_naming_the_field_and_change_nothing(client, admin, body, field):
    before = client.get(SETTINGS, headers=admin.headers).json()
    response = client.put(
        SETTINGS,
        json={"registration_open": not before["registration_open"], **body},
        headers=admin.headers,
    )
    assert response.status_code == 422
    assert field in response.json()["detail"]
    assert client.get(SETTINGS, headers=admin.headers).json() == before


def test_cors_origin_added_is_honoured_at_once(client, admin):
    origin = f"https://{uuid.uuid4().hex[:8]}.example.org"
    assert "access-control-allow-origin" not in preflight(client, origin).headers
    current = client.get(SETTINGS, headers=admin.headers).json()["cors_origins"]
    client.put(SETTINGS, json={"cors_origins": [*current, origin]}, headers=admin.headers)
    assert preflight(client, origin).headers["access-control-allow-origin"] == origin


def test_upload_limit_and_token_lifetime_apply_live(client, admin, create_user):
    user = create_user()
    client.put(
        SETTINGS, json={"max_upload_bytes": 10, "access_token_minutes": 7}, headers=admin.headers
    )
    try:
        upload = client.post(
            "/api/v1/upload", files={"file": ("a.txt", b"x" * 100)}, headers=user.headers
        )
        assert upload.status_code == 413
        login = client.post(
            "/vault/auth/login", json={"username": user.email, "password": user.password}
        )
        assert login.status_code == 200 and login.json()["expires_in"] == 420
    finally:
        client.put(
            SETTINGS,
            json={"max_upload_bytes": None, "access_token_minutes": None},
            headers=admin.headers,
        )
    restored = client.get(SETTINGS, headers=admin.headers).json()
    assert restored["access_token_minutes"] == 30


def test_changes_are_in_the_activity_feed(client, admin):
    client.put(SETTINGS, json={"display_language": "de"}, headers=admin.headers)
    event = client.get("/api/v1/activity", headers=admin.headers, params={"type": "system"})
    assert "display_language" in event.json()[0]["description"]


def test_only_administrators_change_settings(client, create_user):
    for role in ("analyst", "moderator", "user"):
        headers = create_user(role).headers
        assert client.put(SETTINGS, json={"smtp_port": 25}, headers=headers).status_code == 403


@pytest.fixture(scope="module")
def two_processes(tmp_path_factory, database_template) -> Iterator[tuple[TestClient, TestClient]]:
    if BACKEND != "sqlite":
        pytest.skip("one leg is enough: the shared version lives in Redis")
    redis_url = services.redis_server()
    if redis_url is None:
        services.unavailable("Redis")
    database_url = database_template()
    data_dir = tmp_path_factory.mktemp("shared")
    shared = {"redis_url": redis_url, "jwt_secret": "shared-" + uuid.uuid4().hex * 2}
    first = create_app(make_settings(data_dir, database_url, **shared))
    second = create_app(make_settings(data_dir, database_url, **shared))
    with TestClient(first) as one, TestClient(second) as two:
        yield one, two


def test_a_cors_origin_added_in_one_process_is_honoured_by_the_next_preflight_in_another(
    two_processes,
):
    one, two = two_processes
    admin = make_user(one, one.app, "admin")
    origin = f"https://{uuid.uuid4().hex[:8]}.example.net"
    assert "access-control-allow-origin" not in preflight(two, origin).headers
    saved = one.put(SETTINGS, json={"cors_origins": [origin]}, headers=admin.headers)
    assert saved.status_code == 200, saved.text
    assert preflight(two, origin).headers["access-control-allow-origin"] == origin
    assert two.app.state.settings.cors_origins == [origin]
