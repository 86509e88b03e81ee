"""Billing records over HTTP: plans, customers, subscriptions, cancel semantics, invoices
(embedded invoicing with usage charges, PDF), a user's own billing, access and bad input."""

import io
from datetime import UTC, datetime, timedelta

import pytest
from pypdf import PdfReader

from atrium.billing import invoicing
from atrium.billing import service as billing_service
from atrium.usage.tables import UsageRecord
from tests.billing.helpers import BILLING, days_ago, make_customer, make_plan, subscribe

pytestmark = pytest.mark.filterwarnings("ignore")


@pytest.fixture(scope="module")
def settings_overrides():
    return {"billing_invoicing_seconds": 0}


def test_plan_crud_and_bad_input(client, admin):
    h = admin.headers
    plan = make_plan(client, h, "crud-basic", 1500, tier="free")
    assert plan["currency"] == "USD" and plan["source"] == "atrium" and plan["lago_id"] is None
    again = client.post(f"{BILLING}/plans", json={**plan, "code": "crud-basic"}, headers=h)
    assert again.status_code == 409 and again.json()["code"] == "plan_code_taken"
    bad = {"code": "x1", "name": "X", "interval": "monthly", "currency": "USD"}
    negative = client.post(f"{BILLING}/plans", json={**bad, "amount_cents": -5}, headers=h)
    assert negative.status_code == 422 and "amount_cents" in negative.json()["detail"]
    unknown = client.post(
        f"{BILLING}/plans", json={**bad, "amount_cents": 5, "currency": "XYZ"}, headers=h
    )
    assert unknown.status_code == 422 and "ISO 4217" in unknown.json()["detail"]
    no_tier = client.post(
        f"{BILLING}/plans", json={**bad, "amount_cents": 5, "tier": "platinum"}, headers=h
    )
    assert no_tier.status_code == 422 and "platinum" in no_tier.json()["detail"]
    interval = client.post(
        f"{BILLING}/plans", json={**bad, "amount_cents": 5, "interval": "daily"}, headers=h
    )
    assert interval.status_code == 422
    changed = client.put(
        f"{BILLING}/plans/{plan['id']}",
        json={"amount_cents": 1800, "tier": "enterprise"},
        headers=h,
    )
    assert changed.status_code == 200
    assert (changed.json()["amount_cents"], changed.json()["tier"]) == (1800, "enterprise")
    listed = client.get(f"{BILLING}/plans", headers=h).json()
    assert "crud-basic" in [p["code"] for p in listed]
    assert client.delete(f"{BILLING}/plans/{plan['id']}", headers=h).json() == {
        "id": plan["id"],
        "deleted": True,
        "archived": False,
    }
    assert client.get(f"{BILLING}/plans/{plan['id']}", headers=h).status_code == 404


def test_plan_delete_is_409_while_subscribed_then_archives(client, admin):
    h = admin.headers
    make_plan(client, h, "busy", 1000)
    customer = make_customer(client, h, "Busy Co")
    sub = subscribe(client, h, customer, "busy")
    plan_id = sub["plan_id"]
    refused = client.delete(f"{BILLING}/plans/{plan_id}", headers=h)
    assert refused.status_code == 409 and refused.json()["code"] == "plan_in_use"
    assert client.post(f"{BILLING}/subscriptions/{sub['id']}/cancel", headers=h).status_code == 200
    gone = client.delete(f"{BILLING}/plans/{plan_id}", headers=h)
    assert gone.status_code == 200 and gone.json()["archived"] is True
    # history stays readable; the code cannot be subscribed any more
    assert client.get(f"{BILLING}/subscriptions/{sub['id']}", headers=h).status_code == 200
    again = client.post(
        f"{BILLING}/subscriptions",
        json={"customer_id": customer["id"], "plan_code": "busy"},
        headers=h,
    )
    assert again.status_code == 422 and again.json()["code"] == "unknown_plan"


def test_customers_and_subscription_bad_input(client, admin, create_user):
    h = admin.headers
    user = create_user()
    customer = make_customer(client, h, "Owned", user_id=user.id, email="owned@example.com")
    assert customer["user_id"] == user.id and customer["currency"] == "USD"
    twice = client.post(f"{BILLING}/customers", json={"name": "B", "user_id": user.id}, headers=h)
    assert twice.status_code == 409
    ghost = client.post(f"{BILLING}/customers", json={"name": "G", "user_id": 999999}, headers=h)
    assert ghost.status_code == 422
    unknown_plan = client.post(
        f"{BILLING}/subscriptions",
        json={"customer_id": customer["id"], "plan_code": "nope"},
        headers=h,
    )
    assert unknown_plan.status_code == 422 and "nope" in unknown_plan.json()["detail"]
    make_plan(client, h, "euro-only", 900, currency="EUR")
    mismatch = client.post(
        f"{BILLING}/subscriptions",
        json={"customer_id": customer["id"], "plan_code": "euro-only"},
        headers=h,
    )
    assert mismatch.status_code == 400 and mismatch.json()["code"] == "currency_mismatch"
    missing = client.post(
        f"{BILLING}/subscriptions",
        json={"customer_id": 987654, "plan_code": "euro-only"},
        headers=h,
    )
    assert missing.status_code == 404


def test_cancel_semantics(client, admin):
    h = admin.headers
    make_plan(client, h, "cancel-me", 3000)
    customer = make_customer(client, h, "Cancel Co")
    pending = subscribe(client, h, customer, "cancel-me", datetime.now(UTC) + timedelta(days=5))
    assert pending["status"] == "pending"
    canceled = client.post(f"{BILLING}/subscriptions/{pending['id']}/cancel", headers=h).json()
    assert canceled["status"] == "canceled" and canceled["canceled_at"]
    active = subscribe(client, h, customer, "cancel-me", days_ago(10))
    now_ended = client.post(f"{BILLING}/subscriptions/{active['id']}/cancel", headers=h).json()
    assert now_ended["status"] == "terminated" and now_ended["terminated_at"]
    twice = client.post(f"{BILLING}/subscriptions/{active['id']}/cancel", headers=h)
    assert twice.status_code == 409 and twice.json()["code"] == "subscription_already_ended"
    later = subscribe(client, h, customer, "cancel-me", days_ago(10))
    scheduled = client.post(
        f"{BILLING}/subscriptions/{later['id']}/cancel", json={"at_period_end": True}, headers=h
    ).json()
    assert scheduled["status"] == "active"
    assert scheduled["terminated_at"] == later["current_period_end"]
    again = client.post(
        f"{BILLING}/subscriptions/{later['id']}/cancel", json={"at_period_end": True}, headers=h
    )
    assert again.status_code == 409
    listed = client.get(
        f"{BILLING}/subscriptions",
        params={"customer_id": customer["id"], "status": "terminated"},
        headers=h,
    ).json()
    assert [s["id"] for s in listed] == [active["id"]]


def _add_usage(run, app, user_id, when, model, prompt, completion, cost):
    async def insert():
        async with app.state.db.sessions() as session:
            session.add(
                UsageRecord(
                    user_id=user_id,
                    provider="openai-main",
                    provider_type="openai",
                    model=model,
                    prompt_tokens=prompt,
                    completion_tokens=completion,
                    cost_usd=cost,
                    created_at=when,
                )
            )
            await session.commit()

    run(insert)


def test_invoicing_is_idempotent_with_fee_and_usage(client, app, run, admin, create_user):
    h = admin.headers
    user = create_user()
    make_plan(client, h, "metered", 2500, tier="professional")
    customer = make_customer(client, h, "Metered Co", user_id=user.id)
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(days=45)
    sub = subscribe(client, h, customer, "metered", start)
    # usage in the first period (charged on the second invoice) and one call outside it
    _add_usage(run, app, user.id, start + timedelta(days=3), "gpt-4o", 1000, 500, 0.0125)
    _add_usage(run, app, user.id, start + timedelta(days=4), "gpt-4o", 2000, 0, 0.005)
    _add_usage(run, app, user.id, start - timedelta(days=1), "gpt-4o", 9999, 9999, 9.0)

    sessions = app.state.db.sessions
    assert run(invoicing.run_invoicing, sessions)["invoices"] >= 2
    assert run(invoicing.run_invoicing, sessions)["invoices"] == 0
    invoices = client.get(
        f"{BILLING}/invoices", params={"subscription_id": sub["id"]}, headers=h
    ).json()
    assert [i["total_amount_cents"] for i in invoices] == [2500, 2500 + 2]  # 0.0175 USD -> 2
    detail = client.get(f"{BILLING}/invoices/{invoices[1]['id']}", headers=h).json()
    kinds = [(line["kind"], line["amount_cents"], line["units"]) for line in detail["lines"]]
    assert kinds == [("subscription", 2500, 1), ("usage", 2, 3500)]
    assert detail["lines"][1]["properties"]["model"] == "gpt-4o"

    pdf = client.get(f"{BILLING}/invoices/{invoices[1]['id']}/pdf", headers=h)
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    text = PdfReader(io.BytesIO(pdf.content)).pages[0].extract_text()
    assert invoices[1]["number"] in text and "25.02 USD" in text

    mine = client.get(f"{BILLING}/me", headers=user.headers).json()
    assert mine["plan"]["code"] == "metered" and mine["tier"] == "professional"
    assert {i["id"] for i in mine["invoices"]} == {i["id"] for i in invoices}
    assert run(billing_service.active_plan_tier_name_for, app, user.id) == "professional"
    assert mine["limits"]["source"] == "subscription"
    assert mine["limits"]["tier"] == "professional" and mine["limits"]["llm_tokens"] > 0


def test_invoicing_closes_a_terminated_subscription_once(client, app, run, admin, create_user):
    h = admin.headers
    user = create_user()
    make_plan(client, h, "short", 1000)
    customer = make_customer(client, h, "Short Co", user_id=user.id)
    sub = subscribe(client, h, customer, "short", days_ago(40))
    _add_usage(run, app, user.id, datetime.now(UTC) - timedelta(days=2), "gpt-4o", 10, 10, 0.5)
    client.post(f"{BILLING}/subscriptions/{sub['id']}/cancel", headers=h)
    sessions = app.state.db.sessions
    run(invoicing.run_invoicing, sessions)
    run(invoicing.run_invoicing, sessions)
    invoices = client.get(
        f"{BILLING}/invoices", params={"subscription_id": sub["id"]}, headers=h
    ).json()
    assert [i["number"].rsplit("-", 1)[1] for i in invoices] == ["0001", "0002", "END"]
    assert invoices[-1]["total_amount_cents"] == 50


def test_access_rules(client, admin, create_user, as_user):
    h = admin.headers
    make_plan(client, h, "access", 100)
    owner, other = create_user(), create_user()
    customer = make_customer(client, h, "Access Co", user_id=owner.id)
    sub = subscribe(client, h, customer, "access")
    assert client.get(f"{BILLING}/plans").status_code == 401
    for role in ("user", "viewer", "developer"):
        headers = as_user(role)
        assert client.get(f"{BILLING}/subscriptions", headers=headers).status_code == 403
        assert client.get(f"{BILLING}/invoices", headers=headers).status_code == 403
        assert client.get("/api/v1/analytics/revenue/overview", headers=headers).status_code == 403
    analyst = as_user("analyst")
    assert client.get(f"{BILLING}/subscriptions/{sub['id']}", headers=analyst).status_code == 200
    assert client.post(f"{BILLING}/plans", json={}, headers=analyst).status_code == 403
    assert client.post(f"{BILLING}/sync", headers=analyst).status_code == 403
    assert client.get("/api/v1/analytics/revenue/overview", headers=analyst).status_code == 200
    # a user reads only their own billing
    assert (
        client.get(f"{BILLING}/me", headers=owner.headers).json()["customer"]["id"]
        == customer["id"]
    )
    assert client.get(f"{BILLING}/me", headers=other.headers).json()["customer"] is None
    assert client.get(f"{BILLING}/subscriptions/987654321", headers=h).status_code == 404
    assert client.get(f"{BILLING}/invoices/99999999999999999999", headers=h).status_code == 422


def test_sync_without_lago_is_503_and_status_says_so(client, admin):
    refused = client.post(f"{BILLING}/sync", headers=admin.headers)
    assert refused.status_code == 503 and refused.json()["code"] == "lago_not_configured"
    assert client.get(f"{BILLING}/sync", headers=admin.headers).json() == {
        "configured": False,
        "last_run": None,
    }
