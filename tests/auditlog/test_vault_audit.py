"""Vault's audit pages served from the request audit log."""

import csv
import io

import orjson


def test_list_stats_and_export(client, app, run, create_user):
    admin, user = create_user("admin"), create_user()
    client.get("/api/v1/projects", headers=user.headers)
    client.get("/api/v1/projects/424242", headers=user.headers)
    run(app.state.audit_log.flush)
    page = client.get(
        "/vault/admin/audit", headers=admin.headers, params={"user": str(user.id), "limit": 1}
    ).json()
    assert set(page) == {"items", "total", "limit", "offset"}
    assert page["total"] == 2 and page["limit"] == 1 and len(page["items"]) == 1
    item = page["items"][0]
    assert item["action"] == "GET /api/v1/projects/{project_id}" and item["status_code"] == 404
    assert isinstance(item["id"], int) and item["timestamp"].endswith("Z")
    filtered = client.get(
        "/vault/admin/audit",
        headers=admin.headers,
        params={"status_code": 404, "user": str(user.id)},
    ).json()
    assert filtered["total"] == 1

    stats = client.get("/vault/admin/audit/stats", headers=admin.headers).json()
    assert stats["total_requests"] >= 2
    assert {"user": user.username, "user_id": str(user.id), "count": 2} in stats["requests_by_user"]
    assert any(e["endpoint"] == "GET /api/v1/projects" for e in stats["requests_by_endpoint"])

    exported = client.get(
        "/vault/admin/audit/export",
        headers=admin.headers,
        params={"format": "csv", "user": str(user.id)},
    )
    assert exported.status_code == 200 and "attachment" in exported.headers["content-disposition"]
    rows = list(csv.reader(io.StringIO(exported.text)))
    assert rows[0][0] == "id" and len(rows) == 3
    as_json = client.get(
        "/vault/admin/audit/export",
        headers=admin.headers,
        params={"format": "json", "user": str(user.id)},
    )
    assert [entry["status_code"] for entry in orjson.loads(as_json.content)] == [404, 200]


def test_access(client, create_user):
    assert client.get("/vault/admin/audit").status_code == 401
    user = create_user()
    assert client.get("/vault/admin/audit", headers=user.headers).status_code == 403
    analyst = create_user("analyst")
    assert client.get("/vault/admin/audit/stats", headers=analyst.headers).status_code == 200
