"""Factories for billing tests: plans, customers and subscriptions through the API."""

from datetime import UTC, datetime, timedelta

BILLING = "/api/v1/billing"


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def days_ago(days: float) -> datetime:
    return datetime.now(UTC) - timedelta(days=days)


def make_plan(client, headers, code, amount, interval="monthly", currency="USD", tier=None):
    body = {
        "code": code,
        "name": code.title(),
        "interval": interval,
        "amount_cents": amount,
        "currency": currency,
        "tier": tier,
    }
    response = client.post(f"{BILLING}/plans", json=body, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()


def make_customer(client, headers, name, **fields):
    response = client.post(f"{BILLING}/customers", json={"name": name, **fields}, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()


def subscribe(client, headers, customer, plan_code, started_at=None):
    body = {"customer_id": customer["id"], "plan_code": plan_code}
    if started_at is not None:
        body["started_at"] = iso(started_at)
    response = client.post(f"{BILLING}/subscriptions", json=body, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()
