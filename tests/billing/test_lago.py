"""Lago mode against a fake Lago: the sync (pagination, every subscription status, upserts by
lago_id, MRR to the cent), failures (unreachable, key refused, a failing page: nothing written,
no 500) and the usage events (sent once, retried, never duplicated)."""

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import SecretStr
from sqlalchemy import select, update

from atrium.billing import events
from atrium.billing.lago import LagoClient, config_of
from atrium.billing.tables import BillingUsageEvent
from tests.billing.fake_lago import FakeLago
from tests.gateway.upstreams import serve_app
from tests.jobs.helpers import wait_for

BILLING = "/api/v1/billing"
REVENUE = "/api/v1/analytics/revenue"
LAGO_USER_EMAIL = "lago-linked@example.com"


def stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def populate(lago: FakeLago) -> None:
    now = datetime.now(UTC)
    lago.plans[:] = [
        {
            "lago_id": "pl_1",
            "code": "startup",
            "name": "Startup",
            "interval": "monthly",
            "amount_cents": 4900,
            "amount_currency": "USD",
        },
        {
            "lago_id": "pl_2",
            "code": "scale",
            "name": "Scale",
            "interval": "yearly",
            "amount_cents": 99000,
            "amount_currency": "USD",
        },
        {
            "lago_id": "pl_3",
            "code": "weekly",
            "name": "Weekly",
            "interval": "weekly",
            "amount_cents": 1999,
            "amount_currency": "USD",
        },
    ]
    lago.customers[:] = [
        {
            "lago_id": f"cu_{n}",
            "external_id": f"ext-{n}",
            "name": f"Lago {n}",
            "email": LAGO_USER_EMAIL if n == 1 else f"lago{n}@example.com",
            "currency": "USD",
            "created_at": stamp(now - timedelta(days=100)),
        }
        for n in (1, 2, 3)
    ]

    def sub(n, customer, plan, status, **times):
        return {
            "lago_id": f"su_{n}",
            "external_id": f"sub-ext-{n}",
            "lago_customer_id": customer,
            "external_customer_id": customer.replace("cu_", "ext-"),
            "plan_code": plan,
            "status": status,
            "created_at": stamp(now - timedelta(days=90)),
            **times,
        }

    lago.subscriptions[:] = [
        sub(1, "cu_1", "startup", "active", started_at=stamp(now - timedelta(days=90))),
        sub(2, "cu_2", "scale", "active", started_at=stamp(now - timedelta(days=80))),
        sub(3, "cu_3", "weekly", "active", started_at=stamp(now - timedelta(days=20))),
        sub(
            4,
            "cu_3",
            "startup",
            "terminated",
            started_at=stamp(now - timedelta(days=70)),
            terminated_at=stamp(now - timedelta(days=5)),
        ),
        sub(5, "cu_2", "weekly", "pending", subscription_at=stamp(now + timedelta(days=3))),
        sub(
            6,
            "cu_1",
            "scale",
            "canceled",
            subscription_at=stamp(now + timedelta(days=3)),
            canceled_at=stamp(now - timedelta(days=1)),
        ),
    ]
    lago.invoices[:] = [
        {
            "lago_id": f"in_{n}",
            "number": f"LAGO-{n:04d}",
            "issuing_date": str((now - timedelta(days=n % 25)).date()),
            "status": "finalized" if n % 10 else "draft",
            "payment_status": "succeeded" if n % 3 == 0 else "pending",
            "currency": "USD",
            "fees_amount_cents": 100 + n,
            "taxes_amount_cents": 10,
            "total_amount_cents": 110 + n,
            "customer": {"lago_id": f"cu_{n % 3 + 1}"},
            "subscriptions": [{"lago_id": "su_1"}] if n % 3 == 0 else [],
        }
        for n in range(1, 251)
    ]
    lago.invoices[0]["fees"] = [
        {
            "lago_id": "fe_1",
            "amount_cents": 101,
            "units": "1.0",
            "item": {"type": "subscription", "code": "startup", "name": "Startup"},
        }
    ]


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
        "lago_api_url": lago.url,
        "lago_api_key": lago.api_key,
        "billing_sync_seconds": 0,
        "lago_events_flush_seconds": 0,
        "billing_invoicing_seconds": 0,
        "jobs_poll_seconds": 0.05,
    }


def sync(client, run, app, headers) -> dict:
    started = client.post(f"{BILLING}/sync", headers=headers)
    assert started.status_code == 202, started.text
    assert started.json()["status"] in ("queued", "running")
    job_id = started.json()["job_id"]
    assert started.headers["Location"] == f"/api/v1/jobs/{job_id}"
    wait_for(client, app, job_id, "completed", "failed")
    status = client.get(f"{BILLING}/sync", headers=headers).json()
    assert status["configured"] is True and status["last_run"]["id"] == started.json()["id"]
    return status["last_run"]


@pytest.fixture(scope="module")
def synced(client, app, lago, module_admin):
    from atrium.users import service as users_service

    async def linked_user():
        async with app.state.db.sessions() as session:
            user = await users_service.create_user(
                session,
                email=LAGO_USER_EMAIL,
                username="lagolinked",
                password="Pw-linked-123",
                role="user",
            )
            await session.commit()
            return user.id

    user_id = client.portal.call(linked_user)
    run = lambda fn, *args: client.portal.call(lambda: fn(*args))  # noqa: E731
    return {"run": sync(client, run, app, module_admin.headers), "user_id": user_id}


def test_sync_pulls_everything_following_pages_and_statuses(client, lago, synced, module_admin):
    run = synced["run"]
    assert run["status"] == "completed" and run["error"] is None
    assert run["counts"] == {"customers": 3, "plans": 3, "subscriptions": 6, "invoices": 250}
    sub_queries = [q for m, p, q in lago.requests if p == "/api/v1/subscriptions"]
    assert sorted(v for k, v in sub_queries[0] if k == "status[]") == [
        "active",
        "canceled",
        "pending",
        "terminated",
    ]
    invoice_pages = [dict(q)["page"] for m, p, q in lago.requests if p == "/api/v1/invoices"]
    assert invoice_pages == ["1", "2", "3"]
    h = module_admin.headers
    subs = client.get(f"{BILLING}/subscriptions", params={"source": "lago"}, headers=h).json()
    assert sorted(s["status"] for s in subs) == [
        "active",
        "active",
        "active",
        "canceled",
        "pending",
        "terminated",
    ]
    assert all(s["lago_id"] for s in subs)
    first = client.get(f"{BILLING}/invoices", params={"limit": 1}, headers=h).json()[0]
    detail = client.get(f"{BILLING}/invoices/{first['id']}", headers=h).json()
    assert detail["number"] == "LAGO-0001" and detail["lines"][0]["amount_cents"] == 101


def test_overview_after_sync_gives_lagos_mrr_to_the_cent(client, synced, module_admin):
    # active: startup 4,900 x 12 + scale 99,000 + weekly 1,999 x 52 = 261,748 annual
    view = client.get(f"{REVENUE}/overview", headers=module_admin.headers).json()
    assert view["mrr_cents"] == 21812 and view["mrr"] == 218.12  # 261,748 / 12 = 21,812.33
    assert view["arr_cents"] == 12 * 21812 and view["active_subscriptions"] == 3


def test_invoiced_versus_collected_match_lagos_invoices(client, lago, synced, module_admin):
    today = datetime.now(UTC).date()
    start = today - timedelta(days=29)
    finalized = [
        i
        for i in lago.invoices
        if i["status"] == "finalized"
        and start <= datetime.fromisoformat(i["issuing_date"]).date() <= today
    ]
    metrics = client.get(
        f"{REVENUE}/metrics",
        params={"start": str(start), "end": str(today)},
        headers=module_admin.headers,
    ).json()
    assert metrics["invoiced_cents"] == sum(i["total_amount_cents"] for i in finalized)
    assert metrics["collected_cents"] == sum(
        i["total_amount_cents"] for i in finalized if i["payment_status"] == "succeeded"
    )


def test_resync_upserts_by_lago_id(client, app, lago, synced, module_admin):
    lago.subscriptions[0]["status"] = "terminated"
    lago.subscriptions[0]["terminated_at"] = stamp(datetime.now(UTC) - timedelta(hours=1))
    run = lambda fn, *args: client.portal.call(lambda: fn(*args))  # noqa: E731
    try:
        assert sync(client, run, app, module_admin.headers)["status"] == "completed"
        h = module_admin.headers
        subs = client.get(f"{BILLING}/subscriptions", params={"source": "lago"}, headers=h).json()
        assert len(subs) == 6
        view = client.get(f"{REVENUE}/overview", headers=h).json()
        assert view["mrr_cents"] == 21812 - 4900
    finally:
        populate(lago)
        assert sync(client, run, app, module_admin.headers)["status"] == "completed"


@pytest.mark.parametrize("failure", ["key", "unreachable", "page"])
def test_failed_sync_keeps_old_data_and_names_the_cause(
    client, app, lago, synced, module_admin, failure
):
    h = module_admin.headers
    settings = app.state.settings
    before = client.get(f"{REVENUE}/overview", headers=h).json()["mrr_cents"]
    customers = len(client.get(f"{BILLING}/customers", headers=h).json())
    lago.customers.append(
        {
            "lago_id": "cu_new",
            "external_id": "ext-new",
            "name": "New",
            "email": "new@example.com",
            "currency": "USD",
        }
    )
    lago.plans[0]["amount_cents"] = 1
    url, key = settings.lago_api_url, settings.lago_api_key
    if failure == "key":
        settings.lago_api_key = SecretStr("wrong-key")
    elif failure == "unreachable":
        settings.lago_api_url = "http://127.0.0.1:9"
    else:
        lago.fail_pages[("/api/v1/invoices", 2)] = 500
    run = lambda fn, *args: client.portal.call(lambda: fn(*args))  # noqa: E731
    try:
        result = sync(client, run, app, h)
    finally:
        settings.lago_api_url, settings.lago_api_key = url, key
        lago.fail_pages.clear()
        populate(lago)
    assert result["status"] == "failed"
    expected = {"key": "refused the API key", "unreachable": "unreachable", "page": "500"}
    assert expected[failure] in result["error"]
    assert client.get(f"{REVENUE}/overview", headers=h).json()["mrr_cents"] == before
    assert len(client.get(f"{BILLING}/customers", headers=h).json()) == customers


def test_linked_user_sees_the_lago_plan(client, app, synced):
    from tests.conftest import access_token_for

    token = access_token_for(app, synced["user_id"], "user")
    mine = client.get(f"{BILLING}/me", headers={"Authorization": f"Bearer {token}"}).json()
    assert mine["plan"]["code"] == "startup" and mine["subscription"]["source"] == "lago"


def test_usage_events_sent_once_retried_and_never_duplicated(client, app, lago, synced):
    now = datetime.now(UTC)
    usage = app.state.gateway.usage

    def record(user_id, prompt):
        return {
            "user_id": user_id,
            "key_id": None,
            "provider_id": None,
            "provider": "openai-main",
            "provider_type": "openai",
            "model": "gpt-4o",
            "prompt_tokens": prompt,
            "completion_tokens": 7,
            "cost_usd": 0.001,
            "status": "ok",
            "status_code": 200,
            "created_at": now,
        }

    usage.add(record(synced["user_id"], 120))
    usage.add(record(synced["user_id"], 30))
    usage.add(record(None, 5))
    client.portal.call(usage.flush)
    sessions = app.state.db.sessions

    async def rows():
        async with sessions() as session:
            return list(
                await session.scalars(select(BillingUsageEvent).order_by(BillingUsageEvent.id))
            )

    queued = client.portal.call(rows)
    assert len(queued) == 2 and len({r.transaction_id for r in queued}) == 2
    assert {r.external_subscription_id for r in queued} == {"sub-ext-1"}

    async def send():
        async with LagoClient(config_of(app.state.settings)) as lago_client:
            return await events.send_due(sessions, lago_client)

    lago.event_failures[:] = [503]
    first = client.portal.call(send)
    assert first["sent"] == 1 and first["retry"] == 1
    assert client.portal.call(send)["attempted"] == 0  # the retry waits for its back-off

    async def due_now():
        async with sessions() as session:
            await session.execute(update(BillingUsageEvent).values(next_attempt_at=now))
            await session.commit()

    client.portal.call(due_now)
    assert client.portal.call(send)["sent"] == 1
    sent = [r for r in client.portal.call(rows) if r.status == "sent"]
    assert len(sent) == 2 and len(lago.events) == 2
    event = lago.events[sent[0].transaction_id]
    assert event["code"] == "llm_tokens" and event["external_subscription_id"] == "sub-ext-1"
    assert event["properties"] == {
        "model": "gpt-4o",
        "provider": "openai-main",
        "input_tokens": 120,
        "output_tokens": 7,
    }

    # a resend of an event Lago already has (a crash before the row was marked) is no duplicate
    client.portal.call(lambda: _reset_to_pending(sessions))
    assert client.portal.call(send)["sent"] == 2
    assert len(lago.events) == 2


async def _reset_to_pending(sessions):
    async with sessions() as session:
        await session.execute(update(BillingUsageEvent).values(status="pending"))
        await session.commit()


def test_lago_plans_take_only_a_tier_here(client, synced, module_admin):
    h = module_admin.headers
    plan = next(p for p in client.get(f"{BILLING}/plans", headers=h).json() if p["code"] == "scale")
    refused = client.put(f"{BILLING}/plans/{plan['id']}", json={"amount_cents": 5}, headers=h)
    assert refused.status_code == 409 and refused.json()["code"] == "lago_record_read_only"
    tiered = client.put(f"{BILLING}/plans/{plan['id']}", json={"tier": "enterprise"}, headers=h)
    assert tiered.status_code == 200 and tiered.json()["tier"] == "enterprise"
    assert client.delete(f"{BILLING}/plans/{plan['id']}", headers=h).status_code == 409
