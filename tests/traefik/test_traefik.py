"""Seed 002's Traefik service endpoints against the real binary."""

import time

import httpx

SERVICES = "/api/v1/traefik/services"


def wait_until(check, seconds: float = 15.0):
    deadline = time.monotonic() + seconds
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.1)


def test_health_shows_traefik_and_atriums_probe(client, admin, backends):
    body = client.get(f"{SERVICES}/pool/health", headers=admin.headers).json()
    assert body["service"] == "pool@file" and body["status"] == "healthy"
    urls = {server["url"]: server for server in body["servers"]}
    assert set(urls) == {backends["a"].url, backends["b"].url}
    assert all(s["traefik_status"] == "UP" and s["probe"]["reachable"] for s in urls.values())
    assert urls[backends["a"].url]["probe"]["status_code"] == 200


def test_lb_stats_show_weights_and_status(client, admin, backends):
    stats = client.get(f"{SERVICES}/pool/lb-stats", headers=admin.headers).json()
    weights = {server["url"]: server["weight"] for server in stats["servers"]}
    assert weights == {backends["a"].url: 3, backends["b"].url: 1}
    assert stats["servers_up"] == 2 and stats["type"] == "loadbalancer"


def test_metrics_count_requests_through_traefik(client, admin, traefik):
    for _ in range(5):
        assert httpx.get(f"{traefik.web}/hello").text == "A"
    body = client.get(f"{SERVICES}/app/metrics", headers=admin.headers).json()
    assert body["service"] == "app@file"
    assert body["requests_by_code"].get("200", 0) >= 5 and body["requests_total"] >= 5
    assert body["error_rate"] == 0.0 and body["latency"]["p50_ms"] is not None
    assert body["requests_per_second"] >= 0


def test_reload_changes_what_traefik_routes(client, admin, traefik, backends):
    assert httpx.get(f"{traefik.web}/").text == "A"
    reloaded = client.post(
        f"{SERVICES}/app/reload",
        json={"servers": [{"url": backends["c"].url}]},
        headers=admin.headers,
    )
    assert reloaded.status_code == 200, reloaded.text
    assert reloaded.json()["servers"] == [{"url": backends["c"].url}]
    assert wait_until(lambda: httpx.get(f"{traefik.web}/").text == "C")
    again = client.post(f"{SERVICES}/app/reload", headers=admin.headers)
    assert again.status_code == 200 and again.json()["servers"] == [{"url": backends["c"].url}]


def test_a_server_taken_down_shows_as_down(client, admin, backends):
    backends["b"].stop()
    try:

        def down():
            body = client.get(f"{SERVICES}/pool/health", headers=admin.headers).json()
            b = next(s for s in body["servers"] if s["url"] == backends["b"].url)
            return body if b["traefik_status"] == "DOWN" and not b["probe"]["reachable"] else None

        body = wait_until(down)
        assert body["status"] == "degraded"
        stats = client.get(f"{SERVICES}/pool/lb-stats", headers=admin.headers).json()
        assert stats["servers_up"] == 1
    finally:
        backends["b"].start()


def test_unknown_service_is_404_and_access(client, admin, create_user):
    assert client.get(f"{SERVICES}/nope/health", headers=admin.headers).status_code == 404
    assert client.post(f"{SERVICES}/nope/reload", headers=admin.headers).status_code == 404
    assert client.get(f"{SERVICES}/pool/health").status_code == 401
    analyst = create_user("analyst")
    assert client.get(f"{SERVICES}/pool/health", headers=analyst.headers).status_code == 403
    moderator = create_user("moderator")
    assert client.get(f"{SERVICES}/pool/lb-stats", headers=moderator.headers).status_code == 200
    assert client.post(f"{SERVICES}/pool/reload", headers=moderator.headers).status_code == 403
    bad = client.post(
        f"{SERVICES}/app/reload", json={"servers": [{"url": "ftp://x"}]}, headers=admin.headers
    )
    assert bad.status_code == 422


def test_traefik_unreachable_is_503(client, admin, traefik):
    settings = client.app.state.settings
    saved = settings.traefik_api_url
    settings.traefik_api_url = "http://127.0.0.1:9"
    try:
        response = client.get(f"{SERVICES}/pool/health", headers=admin.headers)
        assert response.status_code == 503 and "unreachable" in response.json()["detail"]
    finally:
        settings.traefik_api_url = saved
