"""The Ops Center pages' own calls (LLMUsage, LLMProviderSettings, PermissionsManagement)."""

import csv
import io
from collections.abc import Iterator

import pytest

from tests.gateway.helpers import add_provider, flush
from tests.gateway.upstreams import OpenAIUpstream, serve_app

USAGE = "/api/v1/llm/usage"
CONFIG = "/api/v1/llm-config"


@pytest.fixture(scope="module")
def upstream() -> Iterator[tuple[OpenAIUpstream, str]]:
    fake = OpenAIUpstream()
    with serve_app(fake.app) as base:
        yield fake, base


@pytest.fixture(scope="module")
def provider(client, upstream, module_admin) -> dict:
    return add_provider(client, module_admin.headers, upstream[1], name="ops-fake", type="openai")


def test_usage_pages_need_a_role_reaching_all_usage(client, as_user):
    for path in ("summary", "by-provider", "by-power-level", "export"):
        assert client.get(f"{USAGE}/{path}").status_code == 401
        assert client.get(f"{USAGE}/{path}", headers=as_user("user")).status_code == 403
        assert client.get(f"{USAGE}/{path}", headers=as_user("analyst")).status_code == 200


def test_usage_summary_provider_breakdown_and_export(client, app, admin, provider, create_user):
    user = create_user("user")
    chat = {"model": "gpt-4o", "messages": [{"role": "user", "content": "Hi"}]}
    for _ in range(3):
        assert (
            client.post("/v1/chat/completions", json=chat, headers=user.headers).status_code == 200
        )
    flush(client, app)
    summary = client.get(f"{USAGE}/summary?range=week", headers=admin.headers).json()
    assert summary["total_calls"] >= 3 and len(summary["timeline"]) == 7
    assert summary["timeline"][-1]["calls"] >= 3
    assert summary["growth"]["available"] is False and summary["growth"]["calls"] == 0.0
    assert summary["avg_cost_per_call"] >= 0 and 0 <= summary["quota_used_percent"] <= 100
    assert summary["quota"]["tier"] == "free"
    bad = client.get(f"{USAGE}/summary?range=decade", headers=admin.headers)
    assert bad.status_code == 422
    providers = client.get(f"{USAGE}/by-provider", headers=admin.headers).json()["providers"]
    ours = next(p for p in providers if p["name"] == "ops-fake")
    assert ours["calls"] >= 3 and 0 < ours["percentage"] <= 100
    levels = client.get(f"{USAGE}/by-power-level", headers=admin.headers).json()
    assert levels["available"] is False and levels["levels"] == []
    exported = client.get(f"{USAGE}/export?format=csv&range=month", headers=admin.headers)
    assert exported.headers["content-type"].startswith("text/csv")
    assert "attachment" in exported.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    row = next(r for r in rows if r["provider"] == "ops-fake" and r["model"] == "gpt-4o")
    assert int(row["calls"]) >= 3
    as_json = client.get(f"{USAGE}/export?format=json", headers=admin.headers).json()
    assert any(r["provider"] == "ops-fake" for r in as_json["rows"])


def test_servers_are_providers_added_by_url(client, admin, upstream, as_user, create_user):
    assert client.get(f"{CONFIG}/servers").status_code == 401
    assert client.get(f"{CONFIG}/servers", headers=as_user("user")).status_code == 403
    body = {
        "name": "lab-vllm",
        "server_type": "vllm",
        "base_url": f"{upstream[1]}/v1",
        "api_key": "test-key",
        "use_for_chat": True,
    }
    moderator = create_user("moderator")
    assert client.post(f"{CONFIG}/servers", json=body, headers=moderator.headers).status_code == 403
    created = client.post(f"{CONFIG}/servers", json=body, headers=admin.headers)
    assert created.status_code == 201, created.text
    server = created.json()
    assert server["models"] == ["gpt-4o", "gpt-4o-mini", "text-embedding-3-small"]
    assert server["status"] == "healthy" and server["api_key"].startswith("****")
    listed = client.get(f"{CONFIG}/servers", headers=moderator.headers).json()["servers"]
    assert [s["name"] for s in listed if s["id"] == server["id"]] == ["lab-vllm"]
    path = f"{CONFIG}/servers/{server['id']}"
    # the page sends the whole server back, masked key included: the key stays
    toggled = client.put(path, json={**server, "enabled": False}, headers=admin.headers)
    assert toggled.status_code == 200 and toggled.json()["enabled"] is False
    assert toggled.json()["api_key"] == server["api_key"]
    client.put(path, json={"enabled": True}, headers=admin.headers)
    tested = client.post(f"{path}/test", headers=admin.headers).json()
    assert tested["success"] is True and tested["status"] == "healthy"
    assert client.get(f"{path}/models", headers=admin.headers).json() == server["models"]
    bad = client.post(
        f"{CONFIG}/servers", json={**body, "server_type": "tgi"}, headers=admin.headers
    )
    assert bad.status_code == 400
    nameless = {k: v for k, v in body.items() if k != "name"}
    assert client.post(f"{CONFIG}/servers", json=nameless, headers=admin.headers).status_code == 422
    assert client.get(f"{CONFIG}/api-keys/{server['id']}", headers=admin.headers).status_code == 404
    assert client.delete(path, headers=admin.headers).json() == {
        "id": server["id"],
        "deleted": True,
    }
    assert client.get(path, headers=admin.headers).status_code == 404


def test_api_keys_are_cloud_providers(client, admin, provider):
    listed = client.get(f"{CONFIG}/api-keys", headers=admin.headers).json()["api_keys"]
    ours = next(k for k in listed if k["id"] == provider["id"])  # an openai-type provider
    assert ours["provider"] == "openai" and ours["masked_key"].startswith("****")
    body = {"provider": "anthropic", "key_name": "claude", "api_key": "sk-ant-0123456789abcd"}
    created = client.post(f"{CONFIG}/api-keys", json=body, headers=admin.headers)
    assert created.status_code == 201, created.text
    key = created.json()
    assert key["masked_key"] == "****abcd" and key["provider"] == "anthropic"
    assert key["status"] == "invalid"  # api.anthropic.com cannot be reached from here
    path = f"{CONFIG}/api-keys/{key['id']}"
    renamed = client.put(path, json={**key, "key_name": "claude-2"}, headers=admin.headers)
    assert renamed.json()["key_name"] == "claude-2" and renamed.json()["masked_key"] == "****abcd"
    tested = client.post(f"{path}/test", headers=admin.headers).json()
    assert tested["success"] is False and tested["message"]
    bad = client.post(
        f"{CONFIG}/api-keys", json={**body, "provider": "acme"}, headers=admin.headers
    )
    assert bad.status_code == 400
    assert client.delete(path, headers=admin.headers).status_code == 200


def test_permissions_page(client, admin, as_user, create_user):
    assert client.get("/api/v1/permissions").status_code == 401
    assert client.get("/api/v1/permissions", headers=as_user("moderator")).status_code == 403
    rows = client.get("/api/v1/permissions?level=viewer&limit=50", headers=admin.headers).json()
    assert any(r["resource"] == "files" and r["action"] == "read" for r in rows)
    assert all(r["level"] == "viewer" and r["granted"] for r in rows)
    resources = client.get("/api/v1/permissions/resources", headers=admin.headers).json()
    assert "llm" in [r["name"] for r in resources]
    actions = client.get("/api/v1/permissions/actions", headers=admin.headers).json()
    assert [a["name"] for a in actions] == ["read", "write", "delete", "execute"]
    grant = {"level": "viewer", "resource": "models", "action": "execute", "granted": True}
    granted = client.post("/api/v1/permissions", json=grant, headers=admin.headers)
    assert granted.status_code == 200
    assert any(r["id"] == "viewer:models:execute" for r in granted.json())
    viewer = create_user("viewer")
    check = {"user_id": str(viewer.id), "resource": "models", "action": "execute", "context": {}}
    result = client.post("/api/v1/permissions/check", json=check, headers=admin.headers).json()
    assert result["allowed"] is True and result["effective_level"] == "viewer"
    deleted = client.delete("/api/v1/permissions/viewer:models:execute", headers=admin.headers)
    assert deleted.json() == {"id": "viewer:models:execute", "deleted": True}
    result = client.post("/api/v1/permissions/check", json=check, headers=admin.headers).json()
    assert result["allowed"] is False and "does not hold" in result["reason"]
    refused = client.delete("/api/v1/permissions/admin:users:read", headers=admin.headers)
    assert refused.status_code == 403
