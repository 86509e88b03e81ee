"""Billing's background work as jobs: Lago configured by an administrator's settings (no
environment), a requested sync answered with its job, the periodic sync and the embedded
invoicing fired by their schedules."""

import time

import pytest
from sqlalchemy import select

from atrium.billing.tables import BillingSyncRun
from tests.billing.fake_lago import FakeLago
from tests.billing.helpers import make_customer, make_plan, subscribe
from tests.billing.test_lago import populate
from tests.gateway.upstreams import serve_app
from tests.jobs.helpers import wait_for

BILLING = "/api/v1/billing"
SETTINGS = "/api/v1/admin/settings"
WAIT_SECONDS = 30.0


@pytest.fixture(scope="module")
def lago():
    fake = FakeLago()
    populate(fake)
    with serve_app(fake.app()) as url:
        fake.url = url
        yield fake


@pytest.fixture(scope="module")
def settings_overrides(lago):
    return {
        "billing_sync_seconds": 1,
        "billing_invoicing_seconds": 1,
        "lago_events_flush_seconds": 0,
        "jobs_poll_seconds": 0.05,
    }


def jobs_of(client, headers, kind):
    listed = client.get("/api/v1/jobs", params={"kind": kind, "limit": 100}, headers=headers)
    assert listed.status_code == 200, listed.text
    body = listed.json()
    return body["items"] if isinstance(body, dict) else body


def eventually(check, what):
    deadline = time.monotonic() + WAIT_SECONDS
    while not (found := check()):
        assert time.monotonic() < deadline, f"never happened: {what}"
        time.sleep(0.1)
    return found


def test_lago_configured_by_an_administrator_syncs_as_a_job(client, app, lago, module_admin):
    h = module_admin.headers
    assert client.get(f"{BILLING}/sync", headers=h).json()["configured"] is False
    assert client.post(f"{BILLING}/sync", headers=h).status_code == 503

    changed = client.put(
        SETTINGS, json={"lago_api_url": lago.url, "lago_api_key": lago.api_key}, headers=h
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["lago_api_key_set"] is True and "lago_api_key" not in changed.json()
    assert changed.json()["lago_api_url"] == lago.url
    assert client.get(f"{BILLING}/sync", headers=h).json()["configured"] is True

    started = client.post(f"{BILLING}/sync", headers=h)
    assert started.status_code == 202, started.text
    job_id = started.json()["job_id"]
    assert started.headers["Location"] == f"/api/v1/jobs/{job_id}"
    job = wait_for(client, app, job_id, "completed", "failed")
    assert job.status == "completed", job.error
    assert job.result["counts"]["invoices"] == 250
    assert client.get(f"/api/v1/jobs/{job_id}", headers=h).json()["kind"] == "billing.sync"


def test_the_schedule_fires_the_sync_as_a_job(client, app, lago, module_admin):
    h = module_admin.headers
    client.put(SETTINGS, json={"lago_api_url": lago.url, "lago_api_key": lago.api_key}, headers=h)

    async def scheduled_runs():
        async with app.state.db.sessions() as session:
            rows = await session.scalars(
                select(BillingSyncRun).where(
                    BillingSyncRun.requested_by.is_(None), BillingSyncRun.status == "completed"
                )
            )
            return list(rows)

    runs = eventually(lambda: client.portal.call(scheduled_runs), "a scheduled sync run")
    assert runs[0].counts["customers"] == 3 and runs[0].job_id is not None
    kinds = {job["kind"] for job in jobs_of(client, h, "billing.sync")}
    assert kinds == {"billing.sync"}


def test_the_schedule_fires_invoicing_as_a_job(client, module_admin):
    h = module_admin.headers
    make_plan(client, h, "scheduled-pro", 2500)
    customer = make_customer(client, h, "Scheduled Customer")
    subscribe(client, h, customer, "scheduled-pro")

    def invoices():
        params = {"customer_id": customer["id"]}
        return client.get(f"{BILLING}/invoices", params=params, headers=h).json()

    issued = eventually(invoices, "an invoice issued by the scheduled invoicing job")
    assert issued[0]["total_amount_cents"] == 2500 and issued[0]["source"] == "atrium"
    done = [j for j in jobs_of(client, h, "billing.invoice") if j["status"] == "completed"]
    assert done, "the invoicing ran outside the job engine"


def test_bad_lago_settings_are_refused_and_change_nothing(client, module_admin):
    h = module_admin.headers
    before = client.get(SETTINGS, headers=h).json()
    refused = client.put(SETTINGS, json={"lago_api_url": "ftp://lago"}, headers=h)
    assert refused.status_code == 422
    assert client.get(SETTINGS, headers=h).json() == before
