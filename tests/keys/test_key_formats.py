"""A surface brings its own key format through the registry (`app.state.key_formats`): keys
minted in it authenticate everywhere, and a credential in no registered format is refused
even when a key with its digest exists."""

import secrets

from fastapi import FastAPI
from fastapi.testclient import TestClient

from atrium.auth.principal import key_digest
from atrium.keys import service as keys_service
from atrium.keys.formats import KeyFormat
from atrium.keys.tables import ApiKey

TEST_KEY = KeyFormat(
    "testsurface",
    "tst.",
    lambda: secrets.token_hex(20),
    valid_rest=lambda rest: len(rest) == 40,
)


def _mint(client: TestClient, app: FastAPI, user_id: int) -> str:
    async def create() -> str:
        principal = await app.state.auth_cache.principal_for_user(user_id)
        async with app.state.db.sessions() as session:
            _key, secret = await keys_service.create_key(
                session, principal, name="extra surface", key_format=TEST_KEY
            )
            await session.commit()
        return secret

    return client.portal.call(create)


def test_a_registered_format_authenticates_on_every_surface(
    client: TestClient, app: FastAPI, create_user
) -> None:
    app.state.key_formats.register(TEST_KEY)
    user = create_user()
    secret = _mint(client, app, user.id)
    assert secret.startswith("tst.") and len(secret) == 44
    for headers in ({"X-API-Key": secret}, {"Authorization": f"Bearer {secret}"}):
        me = client.get("/api/v1/auth/me", headers=headers)
        assert me.status_code == 200, me.text
        assert me.json()["id"] == str(user.id)
    vault = client.get("/vault/auth/me", headers={"X-API-Key": secret}).json()
    assert vault["auth_type"] == "key" and vault["key_prefix"] == secret[:12]
    listed = client.get("/api/v1/tokens", headers={"X-API-Key": secret}).json()
    assert [token["prefix"] for token in listed] == [secret[:12]]
    malformed = secret[:-1]  # the format's own check refuses it
    assert client.get("/api/v1/auth/me", headers={"X-API-Key": malformed}).status_code == 401


def test_a_credential_in_no_registered_format_is_refused(
    client: TestClient, app: FastAPI, create_user
) -> None:
    user = create_user()
    secret = "unknown_" + secrets.token_hex(24)

    async def insert() -> None:
        async with app.state.db.sessions() as session:
            session.add(
                ApiKey(user_id=user.id, name="x", prefix=secret[:12], digest=key_digest(secret))
            )
            await session.commit()

    client.portal.call(insert)
    assert client.get("/api/v1/auth/me", headers={"X-API-Key": secret}).status_code == 401


def test_overlapping_prefixes_are_refused(app: FastAPI) -> None:
    clash = KeyFormat("other", "vault_", lambda: secrets.token_hex(8))
    try:
        app.state.key_formats.register(clash)
    except ValueError as exc:
        assert "overlaps" in str(exc)
    else:
        raise AssertionError("a prefix overlapping vault_sk_ was accepted")
