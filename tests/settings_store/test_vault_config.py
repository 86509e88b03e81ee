"""Vault's config pages as views over the settings store, and the paths its pages load."""

import socket

import pytest

SETTINGS = "/api/v1/admin/settings"


def test_network_shows_the_host_and_stores_display_overrides(client, admin):
    network = client.get("/vault/admin/config/network", headers=admin.headers).json()
    assert network["hostname"] == socket.gethostname()
    assert set(network) == {
        "hostname",
        "ip_address",
        "subnet_mask",
        "gateway",
        "dns_servers",
        "network_mode",
    }
    saved = client.put(
        "/vault/admin/config/network",
        json={"hostname": "vault-cube", "dns_servers": ["9.9.9.9"]},
        headers=admin.headers,
    )
    assert saved.status_code == 200, saved.text
    assert saved.json()["hostname"] == "vault-cube" and saved.json()["dns_servers"] == ["9.9.9.9"]
    bad = client.put(
        "/vault/admin/config/network", json={"dns_servers": ["nine"]}, headers=admin.headers
    )
    assert bad.status_code == 422 and "dns_servers" in bad.json()["detail"]


def test_system_config_is_the_real_token_lifetime_and_upload_limit(client, admin):
    system = client.get("/vault/admin/config/system", headers=admin.headers).json()
    settings = client.get(SETTINGS, headers=admin.headers).json()
    assert system["session_timeout"] == settings["access_token_minutes"] * 60
    assert system["max_upload_size"] == settings["max_upload_bytes"]
    saved = client.put(
        "/vault/admin/config/system",
        json={"session_timeout": 7200, "timezone": "Europe/Paris", "max_upload_size": 5000},
        headers=admin.headers,
    )
    assert saved.status_code == 200, saved.text
    settings = client.get(SETTINGS, headers=admin.headers).json()
    assert settings["access_token_minutes"] == 120 and settings["max_upload_bytes"] == 5000
    assert settings["display_timezone"] == "Europe/Paris"
    assert client.app.state.settings.max_upload_bytes == 5000
    refused = client.put(
        "/vault/admin/config/system",
        json={"timezone": "Nowhere/City", "session_timeout": 60},
        headers=admin.headers,
    )
    assert refused.status_code == 422 and "timezone" in refused.json()["detail"]
    assert client.get(SETTINGS, headers=admin.headers).json()["access_token_minutes"] == 120
    telemetry = client.put(
        "/vault/admin/config/system", json={"telemetry": True}, headers=admin.headers
    )
    assert telemetry.status_code == 422
    client.put(
        SETTINGS,
        json={"access_token_minutes": None, "max_upload_bytes": None},
        headers=admin.headers,
    )


def test_model_defaults_are_saved_and_used(client, admin):
    saved = client.put(
        "/vault/admin/config/models",
        json={
            "default_model_id": "some-model",
            "default_temperature": 0.2,
            "default_system_prompt": "Be brief.",
        },
        headers=admin.headers,
    )
    assert saved.status_code == 200, saved.text
    assert saved.json()["default_model_id"] == "some-model"
    assert saved.json()["default_temperature"] == 0.2
    assert saved.json()["default_system_prompt"] == "Be brief."
    assert client.get(SETTINGS, headers=admin.headers).json()["default_model"] == "some-model"


def test_truthful_answers_for_what_atrium_does_not_offer(client, admin):
    assert client.get("/vault/auth/ldap-enabled").json() == {"ldap_enabled": False}
    ldap = client.get("/vault/admin/config/ldap", headers=admin.headers).json()
    assert ldap["enabled"] is False and ldap["available"] is False
    assert client.get("/vault/admin/ldap/mappings", headers=admin.headers).json() == []
    tls = client.get("/vault/admin/config/tls", headers=admin.headers).json()
    assert tls["enabled"] is False and tls["detail"]
    quarantine = client.get("/vault/admin/config/quarantine", headers=admin.headers).json()
    assert quarantine["available"] is False
    assert quarantine["max_file_size"] == client.app.state.settings.max_upload_bytes
    enable = client.put("/vault/admin/config/ldap", json={"enabled": True}, headers=admin.headers)
    assert enable.status_code == 422


@pytest.mark.parametrize(
    "path",
    [
        "/vault/admin/config/network",
        "/vault/admin/config/system",
        "/vault/admin/config/ldap",
        "/vault/admin/config/tls",
        "/vault/admin/config/quarantine",
        "/vault/admin/ldap/mappings",
    ],
)
def test_access(client, create_user, path):
    assert client.get(path).status_code == 401
    assert client.get(path, headers=create_user("analyst").headers).status_code == 403


def test_writes_need_an_administrator(client, create_user):
    moderator = create_user("moderator").headers
    for path, body in (
        ("/vault/admin/config/network", {"hostname": "x"}),
        ("/vault/admin/config/system", {"language": "de"}),
        ("/vault/admin/config/models", {"default_model_id": "x"}),
    ):
        assert client.put(path, json=body, headers=moderator).status_code == 403
