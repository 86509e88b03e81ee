"""Login throttling per (account, address) and per address; X-Forwarded-For from trusted
proxies only."""

import pytest
from fastapi.testclient import TestClient

from atrium.security import throttle
from atrium.security.throttle import ClientAddress

PASSWORD = "throttle-Pass-42"


@pytest.fixture(scope="module")
def settings_overrides() -> dict[str, object]:
    # the TestClient's peer is named "testclient"; it plays the trusted proxy here
    return {"login_max_failures": 3, "trusted_proxies": ["testclient", "10.9.0.0/16"]}


@pytest.fixture(autouse=True)
def long_first_delay(monkeypatch: pytest.MonkeyPatch) -> None:
    # a lock of one second can expire between two slow sign-ins on a loaded machine
    monkeypatch.setattr(throttle, "BASE_DELAY_SECONDS", 60.0)


def attempt(client: TestClient, login: str, password: str, address: str):
    return client.post(
        "/api/v1/auth/login",
        json={"username": login, "password": password},
        headers={"X-Forwarded-For": address},
    )


def test_account_locked_per_address_with_growing_delay(client: TestClient, create_user) -> None:
    user = create_user(password=PASSWORD)
    for _ in range(3):
        assert attempt(client, user.username, "wrong-one!", "203.0.113.5").status_code == 401
    locked = attempt(client, user.username, PASSWORD, "203.0.113.5")
    assert locked.status_code == 429
    assert locked.json()["code"] == "login_throttled"
    first_wait = int(locked.headers["Retry-After"])
    assert first_wait >= 1
    # the owner, elsewhere, is not locked out
    assert attempt(client, user.username, PASSWORD, "198.51.100.7").status_code == 200
    # the OAuth2 token endpoint shares the throttle
    token = client.post(
        "/api/v1/auth/token",
        data={"username": user.username, "password": PASSWORD},
        headers={"X-Forwarded-For": "203.0.113.5"},
    )
    assert token.status_code == 429


def test_one_address_trying_many_accounts_is_throttled(client: TestClient, create_user) -> None:
    victim = create_user(password=PASSWORD)
    statuses = [
        attempt(client, f"ghost{n}", "wrong-one!", "203.0.113.99").status_code for n in range(15)
    ]
    assert statuses == [401] * 15
    blocked = attempt(client, victim.username, PASSWORD, "203.0.113.99")
    assert blocked.status_code == 429
    assert "Retry-After" in blocked.headers
    assert attempt(client, victim.username, PASSWORD, "203.0.113.100").status_code == 200


def test_unknown_accounts_are_throttled_like_known_ones(client: TestClient) -> None:
    for _ in range(3):
        assert attempt(client, "no-such-user", "wrong-one!", "192.0.2.1").status_code == 401
    assert attempt(client, "no-such-user", "wrong-one!", "192.0.2.1").status_code == 429


def test_forwarded_for_believed_only_from_trusted_peer() -> None:
    resolver = ClientAddress(["10.9.0.0/16"])
    assert resolver.resolve("10.9.1.1", "198.51.100.1, 10.9.2.2") == "198.51.100.1"
    assert resolver.resolve("203.0.113.8", "198.51.100.1") == "203.0.113.8"
    assert resolver.resolve("10.9.1.1", None) == "10.9.1.1"


def test_redis_throttle_shares_counters_between_processes(run) -> None:
    import redis.asyncio as redis

    from atrium.security.throttle import LoginThrottled, RedisLoginThrottle
    from tests import services

    url = services.redis_server()
    if url is None:
        services.unavailable("Redis")

    async def scenario() -> int:
        client = redis.from_url(url, decode_responses=True)
        try:
            await client.delete(*(await client.keys("atrium:login:*") or ["none"]))
            one, two = RedisLoginThrottle(client, 2), RedisLoginThrottle(client, 2)
            await one.failure("shared", "203.0.113.50")
            await two.failure("shared", "203.0.113.50")
            try:
                await one.check("shared", "203.0.113.50")
            except LoginThrottled as exc:
                await two.check("shared", "198.51.100.50")  # another address is not locked
                await one.success("shared", "203.0.113.50")
                await two.check("shared", "203.0.113.50")
                return int(exc.headers["Retry-After"])
            return 0
        finally:
            await client.aclose()

    assert run(scenario) >= 1
