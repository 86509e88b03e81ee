"""System telemetry: host figures from psutil, GPUs through NVML, services, uptime."""

import psutil
import pytest
from starlette.websockets import WebSocketDisconnect

from atrium.system import telemetry

RESOURCE_FIELDS = {
    "cpu_usage_pct",
    "cpu_count",
    "ram_total_mb",
    "ram_used_mb",
    "ram_usage_pct",
    "disk_total_gb",
    "disk_used_gb",
    "disk_usage_pct",
    "network_in_bytes",
    "network_out_bytes",
    "temperature_celsius",
}


@pytest.mark.parametrize("path", ["/vault/system/resources", "/api/v1/system/resources"])
def test_resources_are_the_hosts(client, create_user, path):
    admin = create_user("admin")
    body = client.get(path, headers=admin.headers).json()
    assert set(body) >= RESOURCE_FIELDS
    assert body["cpu_count"] == psutil.cpu_count()
    assert body["ram_total_mb"] == psutil.virtual_memory().total // 2**20
    assert body["network_in_bytes"] <= psutil.net_io_counters().bytes_recv
    assert body["network_sample_seconds"] > 0 and body["network_in_bytes_per_sec"] >= 0


def test_gpu_list_and_envelope_agree_with_nvml(client, create_user):
    admin = create_user("admin")
    expected, reason = telemetry.gpus()
    listed = client.get("/vault/system/gpu", headers=admin.headers)
    envelope = client.get("/api/v1/system/gpu", headers=admin.headers).json()
    assert [g["index"] for g in listed.json()] == [g["index"] for g in expected]
    assert envelope["available"] is bool(expected) and len(envelope["gpus"]) == len(expected)
    if not expected:
        assert listed.json() == [] and listed.headers["X-GPU-Unavailable-Reason"] == reason
        assert envelope["reason"] == reason


def test_services_and_uptime(client, create_user):
    admin = create_user("admin")
    services = client.get("/vault/system/services", headers=admin.headers).json()["services"]
    by_name = {s["name"]: s for s in services}
    assert by_name["database"]["status"] == "running"
    assert by_name["api"]["status"] == "running" and by_name["api"]["uptime_seconds"] >= 0
    assert by_name["redis"]["status"] == "not_configured"
    assert by_name["inference"]["status"] == "not_configured"  # no provider in this module
    uptime = client.get("/vault/system/uptime", headers=admin.headers).json()
    assert uptime["os_uptime_seconds"] > 0 and uptime["incidents_24h"] == 0
    database = next(s for s in uptime["services"] if s["service_name"] == "database")
    assert database["availability_24h"] == 100.0 and database["current_status"] == "running"


def test_inference_and_devmode(client, create_user):
    admin = create_user("admin")
    stats = client.get("/vault/system/inference", headers=admin.headers).json()
    assert stats == {
        "requests_per_minute": 0.0,
        "avg_latency_ms": 0.0,
        "tokens_per_second": 0.0,
        "active_requests": 0,
        "window_seconds": 300,
    }
    devmode = client.get("/vault/admin/devmode/status", headers=admin.headers).json()
    assert devmode == {"enabled": False, "gpu_allocation": [], "active_sessions": []}


@pytest.mark.parametrize(
    "path",
    [
        "/vault/system/resources",
        "/vault/system/gpu",
        "/vault/system/inference",
        "/vault/system/uptime",
        "/vault/system/services",
        "/vault/admin/devmode/status",
        "/api/v1/system/gpu",
    ],
)
def test_access(client, create_user, path):
    assert client.get(path).status_code == 401
    assert client.get(path, headers=create_user("analyst").headers).status_code == 403


def test_websocket_sends_samples_with_a_query_token(client, create_user):
    admin = create_user("admin")
    with client.websocket_connect(f"/ws/system?token={admin.token}") as socket:
        message = socket.receive_json()
    assert message["type"] == "system_metrics" and set(message["resources"]) >= RESOURCE_FIELDS
    assert isinstance(message["gpus"], list) and message["timestamp"].endswith("Z")


def test_websocket_refuses_without_rights(client, create_user):
    for query in ("", f"?token={create_user('analyst').token}"):
        with (
            client.websocket_connect(f"/ws/system{query}") as socket,
            pytest.raises(WebSocketDisconnect) as closed,
        ):
            socket.receive_json()
        assert closed.value.code in (4401, 4403)
