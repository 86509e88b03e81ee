"""The request audit log: every request recorded in batches, hash-chained, filtered, verified."""

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import delete, func, select, update

from atrium.auditlog import service as auditlog_service
from atrium.auditlog.tables import AuditLogEntry

LOG = "/api/v1/audit-log"


@pytest.fixture(scope="module")
def settings_overrides():
    # only the tests' explicit flushes write: the writer's timer runs off the event loop and
    # could otherwise write between two requests of a test
    return {"audit_flush_seconds": 3600}


def flush(app, run):
    return run(app.state.audit_log.flush)


def entries(client, headers, **params):
    response = client.get(LOG, headers=headers, params=params)
    assert response.status_code == 200, response.text
    return response.json()


def test_requests_are_recorded_in_batches_with_route_templates(client, app, run, create_user):
    admin, user = create_user("admin"), create_user()
    client.get("/api/v1/projects", headers=user.headers, params={"limit": 5})
    client.get("/api/v1/projects/999999", headers=user.headers)
    assert app.state.audit_log.depth >= 2  # queued, not yet written
    flush(app, run)
    assert app.state.audit_log.depth == 0
    rows = entries(client, admin.headers, user_id=user.id)
    assert [row["status"] for row in rows[:2]] == [404, 200]
    missing, listed = rows[0], rows[1]
    assert missing["route"] == "/api/v1/projects/{project_id}"
    assert missing["path"] == "/api/v1/projects/999999"
    assert listed["path"] == "/api/v1/projects?limit=5"
    assert listed["user_id"] == str(user.id) and listed["method"] == "GET"
    assert listed["latency_ms"] >= 0 and listed["request_id"]
    assert listed["created_at"].endswith("Z") and len(listed["hash"]) == 64
    assert missing["prev_hash"] == listed["hash"]


def test_credentials_in_the_query_are_not_logged(client, app, run, admin):
    client.get("/api/v1/projects", params={"token": "secret-abc", "limit": 2, "sig": "x"})
    flush(app, run)
    rows = entries(client, admin.headers, path="/api/v1/projects?")
    assert rows and all("secret-abc" not in row["path"] for row in rows)
    assert rows[0]["path"] == "/api/v1/projects?limit=2" and rows[0]["status"] == 401


def test_filters_and_keyset_pages(client, app, run, create_user):
    analyst, user = create_user("analyst"), create_user()
    for _ in range(5):
        client.get("/api/v1/projects", headers=user.headers)
    client.get("/api/v1/projects/123456", headers=user.headers)
    flush(app, run)
    first = client.get(LOG, headers=analyst.headers, params={"user_id": user.id, "limit": 2})
    assert first.status_code == 200 and len(first.json()) == 2
    cursor = first.headers["X-Next-Cursor"]
    second = entries(client, analyst.headers, user_id=user.id, limit=2, cursor=cursor)
    assert int(second[0]["id"]) < int(first.json()[-1]["id"])
    assert [r["status"] for r in entries(client, analyst.headers, user_id=user.id, status=404)] == [
        404
    ]
    assert len(entries(client, analyst.headers, user_id=user.id, status_class=2)) == 5
    later = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    assert entries(client, analyst.headers, user_id=user.id, since=later) == []
    assert len(entries(client, analyst.headers, user_id=user.id, until=later)) == 6
    assert client.get(LOG, headers=analyst.headers, params={"limit": 1001}).status_code == 422


def test_access(client, app, run, create_user):
    user, viewer, admin = create_user(), create_user("viewer"), create_user("admin")
    assert client.get(LOG).status_code == 401
    assert client.get(LOG, headers=user.headers).status_code == 403
    assert client.get(LOG, headers=viewer.headers).status_code == 403
    assert client.get(f"{LOG}/verify", headers=user.headers).status_code == 403
    assert client.get(f"{LOG}/verify", headers=admin.headers).status_code == 200


def test_clean_shutdown_flushes_the_queue(tmp_path, database_template):
    from fastapi.testclient import TestClient

    from atrium.app import create_app
    from tests.conftest import make_settings

    app = create_app(make_settings(tmp_path, database_template(), audit_flush_seconds=3600))
    with TestClient(app) as client:
        for _ in range(3):
            client.get("/health")
        assert app.state.audit_log.depth == 3
    assert app.state.audit_log.depth == 0

    async def count() -> int:
        async with app.state.db.sessions() as session:
            rows = await session.scalars(
                select(AuditLogEntry).where(AuditLogEntry.path == "/health")
            )
            return len(rows.all())

    with TestClient(create_app(app.state.settings)) as second:
        assert second.portal.call(count) == 3


def test_verify_catches_a_truncated_tail(client, app, run, admin):
    client.get("/health")
    flush(app, run)

    table = AuditLogEntry.__table__

    async def drop_newest() -> dict:
        async with app.state.db.sessions() as session:
            newest = await session.scalar(select(func.max(table.c.id)))
            row = (await session.execute(select(table).where(table.c.id == newest))).one()
            await session.execute(delete(table).where(table.c.id == newest))
            await session.commit()
            return dict(row._mapping)

    async def put_back(row: dict) -> None:
        async with app.state.db.sessions() as session:
            await session.execute(table.insert().values(**row))
            await session.commit()

    dropped = run(drop_newest)
    report = client.get(f"{LOG}/verify", headers=admin.headers).json()
    assert report["valid"] is False and "newest rows are missing" in report["reason"]
    run(put_back, dropped)
    assert client.get(f"{LOG}/verify", headers=admin.headers).json()["valid"] is True


def test_deleted_user_keeps_rows_and_chain(client, app, run, create_user, admin):
    user = create_user()
    client.get("/api/v1/projects", headers=user.headers)
    flush(app, run)
    assert client.delete(f"/api/v1/admin/users/{user.id}", headers=admin.headers).status_code == 200
    flush(app, run)
    assert client.get(f"{LOG}/verify", headers=admin.headers).json()["valid"] is True


def test_verify_names_the_first_tampered_row(client, app, run, admin):
    for _ in range(4):
        client.get("/health")
    flush(app, run)
    report = client.get(f"{LOG}/verify", headers=admin.headers).json()
    assert report["valid"] is True and report["checked"] >= 4
    newest = entries(client, admin.headers, path="/health", limit=4)
    target = int(newest[2]["id"])

    async def tamper(**values) -> None:
        async with app.state.db.sessions() as session:
            await session.execute(
                update(AuditLogEntry).where(AuditLogEntry.id == target).values(**values)
            )
            await session.commit()

    run(tamper, status=500)
    report = client.get(f"{LOG}/verify", headers=admin.headers).json()
    assert report["valid"] is False and report["first_broken_id"] == target
    assert "content" in report["reason"]
    run(tamper, status=200)
    assert client.get(f"{LOG}/verify", headers=admin.headers).json()["valid"] is True

    async def remove(row_id: int) -> None:
        async with app.state.db.sessions() as session:
            await session.execute(delete(AuditLogEntry).where(AuditLogEntry.id == row_id))
            await session.commit()

    run(remove, target)
    report = client.get(f"{LOG}/verify", headers=admin.headers).json()
    assert report["valid"] is False and report["first_broken_id"] == int(newest[1]["id"])
    assert "removed" in report["reason"]


def test_retention_moves_the_anchor(client, app, run, admin):
    client.get("/health")
    flush(app, run)

    async def purge() -> int:
        async with app.state.db.sessions() as session:
            removed = await auditlog_service.purge_older_than(
                session, datetime.now(UTC) + timedelta(seconds=1)
            )
            await session.commit()
            return removed

    assert run(purge) > 0
    client.get("/health")
    flush(app, run)
    report = client.get(f"{LOG}/verify", headers=admin.headers).json()
    assert report["valid"] is True, report
