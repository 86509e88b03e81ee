"""Retention runs as a scheduled job of the job engine, reading the live setting."""

import time

import pytest

from atrium.auditlog.tasks import KIND
from atrium.jobs.schedules import declared
from tests.jobs.helpers import JOB_SETTINGS, enqueue, wait_for

LOG = "/api/v1/audit-log"


@pytest.fixture(scope="module")
def settings_overrides():
    return {**JOB_SETTINGS, "jobs_imports": [], "audit_flush_seconds": 3600}


def test_the_job_is_scheduled_hourly():
    spec = declared()["audit_log.retention"]
    assert spec.kind == KIND and spec.every_seconds == 3600


def test_old_rows_are_purged_and_the_chain_still_verifies(client, app, run, admin):
    old = time.time() - 3 * 86400
    app.state.audit_log.queue.append(
        (old, None, "GET", None, "/ancient", b"", 200, 1.0, None, [], "old-1")
    )
    client.get("/health")
    run(app.state.audit_log.flush)
    saved = client.put(
        "/api/v1/admin/settings", json={"audit_log_retention_days": 2}, headers=admin.headers
    )
    assert saved.status_code == 200
    job_id = enqueue(client, app, KIND, None)
    job = wait_for(client, app, job_id, "completed", "failed")
    assert job.status == "completed", job.error
    assert job.result["deleted"] >= 1 and job.result["retention_days"] == 2
    run(app.state.audit_log.flush)
    assert client.get(LOG, headers=admin.headers, params={"path": "/ancient"}).json() == []
    assert client.get(f"{LOG}/verify", headers=admin.headers).json()["valid"] is True
