"""Roll-ups the revenue analytics read instead of a million invoices: totals per issuing day
(currency, statuses) and per customer. Rebuilt for exactly what a write touched."""

from collections import defaultdict
from collections.abc import Iterable
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import Date, case, cast, delete, func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from atrium.billing.tables import (
    BillingCustomerRevenue,
    BillingInvoice,
    BillingInvoiceCustomers,
    BillingInvoiceDaily,
    BillingSubscription,
    BillingSubscriptionDaily,
)

CHUNK = 500
Inv = BillingInvoice
Sub = BillingSubscription


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
        await _rebuild_customer_periods(session, None)
        return
    for chunk in _chunks(set(days or ())):
        await _rebuild_days(session, chunk)
        await _rebuild_customer_periods(session, chunk)
    for chunk in _chunks(set(customer_ids or ())):
        await _rebuild_customers(session, chunk)


# --- subscription starts and ends per day and plan ---------------------------------------


def day_of(column, dialect: str):
    if dialect == "postgresql":
        return cast(func.timezone("UTC", column), Date)
    return func.date(column)


def _as_date(value) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))


async def _subscription_events(session: AsyncSession, days: list[date] | None) -> dict:
    """{(day, plan_id): [started, ended]} for the given days (or all)."""
    dialect = session.bind.dialect.name
    live = Sub.status != "canceled"
    found: dict[tuple[date, int], list[int]] = defaultdict(lambda: [0, 0])
    for slot, column in ((0, Sub.started_at), (1, Sub.terminated_at)):
        day = day_of(column, dialect)
        query = select(day, Sub.plan_id, func.count()).where(live, column.is_not(None))
        if days is None:
            rows = await session.execute(query.group_by(day, Sub.plan_id))
            for value, plan_id, count in rows:
                found[(_as_date(value), plan_id)][slot] += count
            continue
        for one in days:
            start = datetime.combine(one, time(), tzinfo=UTC)
            ranged = query.where(column >= start, column < start + timedelta(days=1))
            for _, plan_id, count in await session.execute(ranged.group_by(day, Sub.plan_id)):
                found[(one, plan_id)][slot] += count
    return found


async def refresh_subscription_days(
    session: AsyncSession, days: Iterable[date | None] | None = None, *, everything: bool = False
) -> None:
    """Rebuild the per-day start/end counts for the given days (or all of them)."""
    wanted = None if everything else sorted({d for d in days or () if d is not None})
    if wanted == []:
        return
    await session.flush()
    removal = delete(BillingSubscriptionDaily)
    if wanted is not None:
        removal = removal.where(BillingSubscriptionDaily.day.in_(wanted))
    await session.execute(removal)
    events = await _subscription_events(session, wanted)
    rows = [
        {"day": day, "plan_id": plan_id, "started": started, "ended": ended}
        for (day, plan_id), (started, ended) in events.items()
    ]
    for start in range(0, len(rows), 5000):
        await session.execute(insert(BillingSubscriptionDaily), rows[start : start + 5000])


def subscription_days(*moments: datetime | None) -> set[date]:
    return {moment.astimezone(UTC).date() for moment in moments if moment is not None}


# --- distinct invoiced customers per day, week and month --------------------------------


def period_start(day: date, period: str) -> date:
    if period == "week":
        return day - timedelta(days=day.weekday())
    if period == "month":
        return day.replace(day=1)
    return day


def period_end(start: date, period: str) -> date:
    if period == "week":
        return start + timedelta(days=7)
    if period == "month":
        return (start.replace(day=28) + timedelta(days=4)).replace(day=1)
    return start + timedelta(days=1)


def _bucket(dialect: str, period: str):
    column = Inv.issuing_date
    if period == "day":
        return column
    if dialect == "postgresql":
        return cast(func.date_trunc(period, column), Date)
    if period == "week":
        return func.date(column, "weekday 0", "-6 days")
    return func.strftime("%Y-%m-01", column)


async def _rebuild_customer_periods(session: AsyncSession, days: list[date] | None) -> None:
    dialect = session.bind.dialect.name
    table = BillingInvoiceCustomers
    for period in ("day", "week", "month"):
        bucket = _bucket(dialect, period)
        query = (
            select(bucket, Inv.currency, func.count(func.distinct(Inv.customer_id)))
            .where(Inv.status == "finalized")
            .group_by(bucket, Inv.currency)
        )
        if days is None:
            await session.execute(delete(table).where(table.period == period))
            spans = [None]
        else:
            starts = sorted({period_start(day, period) for day in days})
            await session.execute(
                delete(table).where(table.period == period, table.start.in_(starts))
            )
            spans = [(s, period_end(s, period)) for s in starts]
        for span in spans:
            ranged = query
            if span is not None:
                ranged = query.where(Inv.issuing_date >= span[0], Inv.issuing_date < span[1])
            rows = [
                {"period": period, "start": _as_date(start), "currency": code, "customers": n}
                for start, code, n in await session.execute(ranged)
            ]
            if rows:
                await session.execute(insert(table), rows)
