"""Lago's records written into Atrium's tables, upserted by `lago_id`, in one transaction."""

from collections.abc import Iterable
from datetime import date, datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from atrium.billing import analytics, rollups
from atrium.billing.currency import is_currency
from atrium.billing.lago import LagoError
from atrium.billing.periods import PERIODS_PER_YEAR
from atrium.billing.tables import (
    BillingCustomer,
    BillingInvoice,
    BillingInvoiceLine,
    BillingPlan,
    BillingSubscription,
)
from atrium.users import service as users_service

INVOICE_STATUSES = {"draft", "finalized", "voided"}
PAYMENT_STATUSES = {"pending", "succeeded", "failed"}
SUBSCRIPTION_STATUSES = {"active", "pending", "canceled", "terminated"}


def _bad(kind: str, record: dict, why: str) -> LagoError:
    return LagoError(f"Lago {kind} {record.get('lago_id')!r} cannot be stored: {why}")


def _time(value: Any) -> datetime | None:
    if not value:
        return None
    parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        raise ValueError("a time without a zone")
    return parsed


def _day(value: Any) -> date:
    return date.fromisoformat(str(value)[:10])


def _cents(record: dict, key: str) -> int:
    value = int(record.get(key) or 0)
    if value < 0:
        raise ValueError(f"{key} is negative")
    return value


def _currency(record: dict, *keys: str) -> str:
    for key in keys:
        value = record.get(key)
        if value:
            if not is_currency(str(value)):
                raise ValueError(f"{value!r} is not an ISO 4217 currency")
            return str(value).upper()
    raise ValueError("no currency")


async def _existing(session: AsyncSession, model, ids: Iterable[str]) -> dict[str, Any]:
    wanted = sorted({i for i in ids if i})
    found: dict[str, Any] = {}
    for start in range(0, len(wanted), 500):
        rows = await session.scalars(
            select(model).where(model.lago_id.in_(wanted[start : start + 500]))
        )
        found.update({row.lago_id: row for row in rows})
    return found


async def _plans(session: AsyncSession, items: list[dict]) -> dict[str, BillingPlan]:
    by_id = await _existing(session, BillingPlan, (item.get("lago_id") for item in items))
    by_code: dict[str, BillingPlan] = {}
    for item in items:
        try:
            values = {
                "code": str(item["code"])[:100],
                "name": str(item.get("name") or item["code"])[:200],
                "interval": item["interval"],
                "amount_cents": _cents(item, "amount_cents"),
                "currency": _currency(item, "amount_currency", "currency"),
                "description": item.get("description"),
            }
            if values["interval"] not in PERIODS_PER_YEAR:
                raise ValueError(f"interval {values['interval']!r}")
        except (KeyError, ValueError, TypeError) as exc:
            raise _bad("plan", item, str(exc)) from exc
        plan = by_id.get(item["lago_id"])
        if plan is None:
            # adopt an Atrium plan of the same code (an operator moving to Lago)
            plan = await session.scalar(
                select(BillingPlan).where(BillingPlan.code == values["code"])
            )
            if plan is None:
                plan = BillingPlan()
                session.add(plan)
        for field, value in values.items():
            setattr(plan, field, value)
        plan.source, plan.lago_id, plan.archived_at = "lago", item["lago_id"], None
        by_code[values["code"]] = plan
    await session.flush()
    return by_code


async def _customers(session: AsyncSession, items: list[dict]) -> dict[str, BillingCustomer]:
    by_id = await _existing(session, BillingCustomer, (item.get("lago_id") for item in items))
    users = await users_service.ids_by_email(session, [i.get("email") or "" for i in items])
    result: dict[str, BillingCustomer] = {}
    for item in items:
        try:
            created = _time(item.get("created_at"))
            currency = _currency(item, "currency") if item.get("currency") else None
            external_id = str(item["external_id"])[:255]
        except (KeyError, ValueError, TypeError) as exc:
            raise _bad("customer", item, str(exc)) from exc
        customer = by_id.get(item["lago_id"])
        if customer is None:
            customer = await session.scalar(
                select(BillingCustomer).where(BillingCustomer.external_id == external_id)
            )
            if customer is None:
                customer = BillingCustomer()
                session.add(customer)
        email = item.get("email") or None
        customer.name = str(item.get("name") or external_id)[:200]
        customer.email = email
        customer.external_id = external_id
        customer.currency = currency
        customer.user_id = customer.user_id or users.get((email or "").strip().lower())
        customer.source, customer.lago_id = "lago", item["lago_id"]
        if created is not None:
            customer.created_at = created
        result[item["lago_id"]] = customer
        result[f"external:{external_id}"] = customer
    await session.flush()
    return result


async def _subscriptions(
    session: AsyncSession, items: list[dict], plans: dict[str, BillingPlan], customers: dict
) -> dict[str, BillingSubscription]:
    by_id = await _existing(session, BillingSubscription, (i.get("lago_id") for i in items))
    result: dict[str, BillingSubscription] = {}
    for item in items:
        try:
            customer = customers.get(item.get("lago_customer_id")) or customers.get(
                f"external:{item.get('external_customer_id')}"
            )
            plan = plans.get(item.get("plan_code"))
            if customer is None or plan is None:
                raise ValueError("its customer or plan is not in Lago's lists")
            status = item["status"]
            if status not in SUBSCRIPTION_STATUSES:
                raise ValueError(f"status {status!r}")
            started = (
                _time(item.get("started_at"))
                or _time(item.get("subscription_at"))
                or _time(item.get("created_at"))
            )
            if started is None:
                raise ValueError("no start time")
            values = {
                "customer_id": customer.id,
                "plan_id": plan.id,
                "external_id": str(item.get("external_id") or item["lago_id"])[:255],
                "status": status,
                "started_at": started,
                "canceled_at": _time(item.get("canceled_at")),
                "terminated_at": _time(item.get("terminated_at")),
            }
        except (KeyError, ValueError, TypeError) as exc:
            raise _bad("subscription", item, str(exc)) from exc
        sub = by_id.get(item["lago_id"])
        if sub is None:
            sub = BillingSubscription()
            session.add(sub)
        for field, value in values.items():
            setattr(sub, field, value)
        sub.source, sub.lago_id = "lago", item["lago_id"]
        result[item["lago_id"]] = sub
    await session.flush()
    return result


def _invoice_values(item: dict, customers: dict, subscriptions: dict) -> dict[str, Any]:
    customer_ref = item.get("customer") or {}
    customer = customers.get(customer_ref.get("lago_id")) or customers.get(
        f"external:{customer_ref.get('external_id')}"
    )
    if customer is None:
        raise ValueError("its customer is not in Lago's customer list")
    linked = [subscriptions.get(s.get("lago_id")) for s in item.get("subscriptions") or []]
    linked = [sub for sub in linked if sub is not None]
    status = item.get("status")
    payment = item.get("payment_status") or "pending"
    return {
        "number": str(item["number"])[:64],
        "customer_id": customer.id,
        "subscription_id": linked[0].id if linked else None,
        "issuing_date": _day(item["issuing_date"]),
        # Lago's other statuses (pending, failed) are not final
        "status": status if status in INVOICE_STATUSES else "draft",
        "payment_status": payment if payment in PAYMENT_STATUSES else "pending",
        "currency": _currency(item, "currency"),
        "fees_amount_cents": _cents(item, "fees_amount_cents"),
        "taxes_amount_cents": _cents(item, "taxes_amount_cents"),
        "total_amount_cents": _cents(item, "total_amount_cents"),
    }


def _fee_lines(item: dict) -> list[dict[str, Any]]:
    lines = []
    for fee in item.get("fees") or []:
        fee_item = fee.get("item") or {}
        kind = "subscription" if fee_item.get("type") == "subscription" else "usage"
        lines.append(
            {
                "kind": kind,
                "description": str(fee_item.get("name") or fee_item.get("code") or kind)[:300],
                "units": int(float(fee.get("units") or 0)),
                "amount_cents": _cents(fee, "amount_cents"),
                "properties": {"lago_id": fee.get("lago_id"), "code": fee_item.get("code")},
            }
        )
    return lines


async def _invoices(
    session: AsyncSession, items: list[dict], customers: dict, subscriptions: dict
) -> int:
    by_id = await _existing(session, BillingInvoice, (i.get("lago_id") for i in items))
    for item in items:
        try:
            values = _invoice_values(item, customers, subscriptions)
            lines = _fee_lines(item) if "fees" in item else None
        except (KeyError, ValueError, TypeError) as exc:
            raise _bad("invoice", item, str(exc)) from exc
        invoice = by_id.get(item["lago_id"])
        if invoice is None:
            invoice = BillingInvoice()
            session.add(invoice)
        elif lines is not None:
            await session.execute(
                delete(BillingInvoiceLine).where(BillingInvoiceLine.invoice_id == invoice.id)
            )
        for field, value in values.items():
            setattr(invoice, field, value)
        invoice.source, invoice.lago_id = "lago", item["lago_id"]
        if lines:
            await session.flush()
            session.add_all(BillingInvoiceLine(invoice_id=invoice.id, **line) for line in lines)
    await session.flush()
    return len(items)


async def apply(session: AsyncSession, data: dict[str, list[dict]]) -> dict[str, int]:
    """Upsert everything fetched from Lago; the caller commits (or rolls back on error)."""
    plans = await _plans(session, data["plans"])
    customers = await _customers(session, data["customers"])
    subscriptions = await _subscriptions(session, data["subscriptions"], plans, customers)
    await _invoices(session, data["invoices"], customers, subscriptions)
    await rollups.refresh_subscription_days(session, everything=True)
    await analytics.refresh_movement_months(session)
    if data["invoices"]:
        await rollups.refresh(session, everything=True)
    return {name: len(items) for name, items in data.items()}
