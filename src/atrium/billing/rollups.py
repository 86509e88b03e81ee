"""Roll-ups the revenue analytics read instead of a million invoices: totals per issuing day
(currency, statuses) and per customer. Rebuilt for exactly what a write touched."""

from collections.abc import Iterable
from datetime import date

from sqlalchemy import case, delete, func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from atrium.billing.tables import BillingCustomerRevenue, BillingInvoice, BillingInvoiceDaily

CHUNK = 500
Inv = BillingInvoice


def _chunks(values: Iterable, size: int = CHUNK):
    items = sorted(values)
    for start in range(0, len(items), size):
        yield items[start : start + size]


async def _rebuild_days(session: AsyncSession, days: list[date] | None) -> None:
    grouped = select(
        Inv.issuing_date,
        Inv.currency,
        Inv.status,
        Inv.payment_status,
        func.count(),
        func.count(func.distinct(Inv.customer_id)),
        func.sum(Inv.fees_amount_cents),
        func.sum(Inv.taxes_amount_cents),
        func.sum(Inv.total_amount_cents),
    ).group_by(Inv.issuing_date, Inv.currency, Inv.status, Inv.payment_status)
    removal = delete(BillingInvoiceDaily)
    if days is not None:
        grouped = grouped.where(Inv.issuing_date.in_(days))
        removal = removal.where(BillingInvoiceDaily.day.in_(days))
    await session.execute(removal)
    columns = [
        "day",
        "currency",
        "status",
        "payment_status",
        "invoices",
        "customers",
        "fees_amount_cents",
        "taxes_amount_cents",
        "total_amount_cents",
    ]
    await session.execute(insert(BillingInvoiceDaily).from_select(columns, grouped))


async def _rebuild_customers(session: AsyncSession, customer_ids: list[int] | None) -> None:
    finalized = Inv.status == "finalized"
    grouped = (
        select(
            Inv.customer_id,
            Inv.currency,
            func.count(),
            func.sum(Inv.total_amount_cents),
            func.sum(case((Inv.payment_status == "succeeded", Inv.total_amount_cents), else_=0)),
        )
        .where(finalized)
        .group_by(Inv.customer_id, Inv.currency)
    )
    removal = delete(BillingCustomerRevenue)
    if customer_ids is not None:
        grouped = grouped.where(Inv.customer_id.in_(customer_ids))
        removal = removal.where(BillingCustomerRevenue.customer_id.in_(customer_ids))
    await session.execute(removal)
    columns = ["customer_id", "currency", "invoices", "invoiced_cents", "collected_cents"]
    await session.execute(insert(BillingCustomerRevenue).from_select(columns, grouped))


async def refresh(
    session: AsyncSession,
    *,
    days: Iterable[date] | None = None,
    customer_ids: Iterable[int] | None = None,
    everything: bool = False,
) -> None:
    """Rebuild the roll-ups for the given days and customers (or all of them), in the
    caller's transaction, so they change together with the invoices."""
    if everything:
        await _rebuild_days(session, None)
        await _rebuild_customers(session, None)
        return
    for chunk in _chunks(set(days or ())):
        await _rebuild_days(session, chunk)
    for chunk in _chunks(set(customer_ids or ())):
        await _rebuild_customers(session, chunk)
