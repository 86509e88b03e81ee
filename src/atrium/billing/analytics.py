"""Revenue analytics over Atrium's billing tables (the same in the embedded and Lago modes).

Money is summed in integer cents per currency and never converted. MRR normalises every
interval to a month exactly: each subscription contributes `amount * periods per year`
("annual" cents, an integer), and a total is divided by 12 once, rounding half up. ARR is
12 x MRR. A subscription bills at time t when it has started by t, was not canceled before
starting, and is not terminated by t (`service.active_at`). Figures that cannot be computed
are `None` here and `{"available": false, "reason": ...}` at the surface.
"""

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from itertools import pairwise
from typing import Any

from sqlalchemy import and_, case, delete, func, insert, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from atrium.billing.periods import PERIODS_PER_YEAR, calendar_month
from atrium.billing.predicates import active_at
from atrium.billing.tables import (
    BillingCustomer,
    BillingCustomerRevenue,
    BillingInvoiceCustomers,
    BillingInvoiceDaily,
    BillingMovementMonthly,
    BillingPlan,
    BillingSubscription,
    BillingSubscriptionDaily,
)
from atrium.db import utcnow

Sub, Plan = BillingSubscription, BillingPlan
ANNUAL = case(PERIODS_PER_YEAR, value=Plan.interval, else_=0) * Plan.amount_cents
LIVE = Sub.status != "canceled"


def div_round(numerator: int, denominator: int) -> int:
    """Integer division rounding half up (exact for cents)."""
    quotient, remainder = divmod(numerator, denominator)
    return quotient + (1 if 2 * remainder >= denominator else 0)


def monthly(annual_cents: int) -> int:
    return div_round(annual_cents, 12)


def rate(part: float, whole: float) -> float | None:
    return part / whole if whole else None


def at_midnight(day: date) -> datetime:
    return datetime.combine(day, time(), tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class PlanInfo:
    id: int
    code: str
    name: str
    tier: str | None
    currency: str
    annual: int  # cents per subscription per year


async def plans(session: AsyncSession) -> dict[int, PlanInfo]:
    rows = await session.execute(
        select(
            Plan.id,
            Plan.code,
            Plan.name,
            Plan.tier,
            Plan.currency,
            Plan.interval,
            Plan.amount_cents,
        )
    )
    return {
        r.id: PlanInfo(
            r.id,
            r.code,
            r.name,
            r.tier,
            r.currency,
            r.amount_cents * PERIODS_PER_YEAR.get(r.interval, 0),
        )
        for r in rows
    }


async def active_counts(session: AsyncSession, moment: datetime) -> dict[int, int]:
    """Subscriptions billing at `moment` per plan: the daily roll-up's running sum up to the
    day before, plus that day's starts and ends up to `moment` read exactly."""
    daily = BillingSubscriptionDaily
    midnight = at_midnight(moment.astimezone(UTC).date())
    counts: dict[int, int] = defaultdict(int)
    rows = await session.execute(
        select(daily.plan_id, func.sum(daily.started) - func.sum(daily.ended))
        .where(daily.day < midnight.date())
        .group_by(daily.plan_id)
    )
    for plan_id, count in rows:
        counts[plan_id] += int(count or 0)
    for column, sign in ((Sub.started_at, 1), (Sub.terminated_at, -1)):
        rows = await session.execute(
            select(Sub.plan_id, func.count())
            .where(LIVE, column >= midnight, column <= moment)
            .group_by(Sub.plan_id)
        )
        for plan_id, count in rows:
            counts[plan_id] += sign * count
    return {plan_id: count for plan_id, count in counts.items() if count}


async def terminated_counts(
    session: AsyncSession, start: datetime, end: datetime
) -> dict[int, int]:
    rows = await session.execute(
        select(Sub.plan_id, func.count())
        .where(LIVE, Sub.terminated_at >= start, Sub.terminated_at < end)
        .group_by(Sub.plan_id)
    )
    return dict(rows.tuples().all())


def per_currency(counts: dict[int, int], info: dict[int, PlanInfo]) -> dict[str, dict[str, int]]:
    totals: dict[str, dict[str, int]] = defaultdict(lambda: {"annual": 0, "subscriptions": 0})
    for plan_id, count in counts.items():
        plan = info[plan_id]
        totals[plan.currency]["annual"] += plan.annual * count
        totals[plan.currency]["subscriptions"] += count
    return totals


async def active_customers(
    session: AsyncSession, moment: datetime, group: Any = None
) -> dict[Any, int]:
    """Distinct customers with a billing subscription, per currency (or per `group` too)."""
    keys = [Plan.currency] + ([group] if group is not None else [])
    rows = await session.execute(
        select(*keys, func.count(func.distinct(Sub.customer_id)))
        .join(Plan, Plan.id == Sub.plan_id)
        .where(active_at(moment))
        .group_by(*keys)
    )
    return {tuple(row[:-1]) if group is not None else row[0]: row[-1] for row in rows}


# --- MRR at many moments, from start and end events -------------------------------------


async def mrr_at_days(
    session: AsyncSession, info: dict[int, PlanInfo], days: list[date]
) -> dict[str, list[int]]:
    """Annual cents per currency at the end of each given day (ascending): a running sum
    over the daily start/end roll-up, whatever the range."""
    if not days:
        return {}
    daily = BillingSubscriptionDaily
    rows = await session.execute(
        select(daily.day, daily.plan_id, daily.started - daily.ended)
        .where(daily.day <= days[-1])
        .order_by(daily.day)
    )
    events = [(_as_date(day), plan_id, change) for day, plan_id, change in rows]
    series: dict[str, list[int]] = defaultdict(lambda: [0] * len(days))
    running: dict[str, int] = defaultdict(int)
    index = 0
    for position, day in enumerate(days):
        while index < len(events) and events[index][0] <= day:
            _, plan_id, change = events[index]
            plan = info[plan_id]
            running[plan.currency] += plan.annual * change
            index += 1
        for currency, annual in running.items():
            series[currency][position] = annual
    return series


def _as_date(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))


# --- customer-level movements between boundaries -----------------------------------------


async def _movement(
    session: AsyncSession, currency: str, boundaries: list[datetime]
) -> list[dict[str, int]]:
    """Customer-level MRR movement between the boundaries, in one pass over the customers
    whose subscriptions started or ended within the span (no one else can move)."""
    first, last = boundaries[0], boundaries[-1]
    changed = select(Sub.customer_id).where(
        LIVE,
        or_(
            and_(Sub.started_at > first, Sub.started_at <= last),
            and_(Sub.terminated_at > first, Sub.terminated_at <= last),
        ),
    )
    at = [
        func.sum(case((active_at(moment), ANNUAL), else_=0)).label(f"m{i}")
        for i, moment in enumerate(boundaries)
    ]
    inner = (
        select(*at)
        .select_from(Sub)
        .join(Plan, Plan.id == Sub.plan_id)
        .where(LIVE, Plan.currency == currency, Sub.customer_id.in_(changed))
        .group_by(Sub.customer_id)
        .subquery()
    )
    columns = []
    for i in range(len(boundaries) - 1):
        s, e = inner.c[f"m{i}"], inner.c[f"m{i + 1}"]
        columns += [
            func.sum(case((and_(s == 0, e > 0), e), else_=0)),
            func.sum(case((and_(s > 0, e > s), e - s), else_=0)),
            func.sum(case((and_(s > 0, e > 0, e < s), s - e), else_=0)),
            func.sum(case((and_(s > 0, e == 0), s), else_=0)),
            func.sum(case((and_(s == 0, e > 0), 1), else_=0)),
            func.sum(case((and_(s > 0, e == 0), 1), else_=0)),
        ]
    row = (await session.execute(select(*columns))).one()
    names = ("new", "expansion", "contraction", "churned", "customers_new", "customers_churned")
    values = [int(value or 0) for value in row]
    width = len(names)
    return [
        dict(zip(names, values[i * width : (i + 1) * width], strict=True))
        for i in range(len(boundaries) - 1)
    ]


async def movements(
    session: AsyncSession, currency: str, boundaries: list[datetime]
) -> list[dict[str, int]]:
    """Per interval between consecutive boundaries, customer-level MRR movement in annual
    cents: new (from nothing), expansion, contraction, churned (to nothing), with the counts
    of new and churned customers. Each interval reads only its own changed customers."""
    result = []
    for start, end in pairwise(boundaries):
        result += await _movement(session, currency, [start, end])
    return result


async def annual_at(
    session: AsyncSession, info: dict[int, PlanInfo], currency: str, moment: datetime
) -> int:
    return (
        per_currency(await active_counts(session, moment), info).get(currency, {}).get("annual", 0)
    )


# --- invoices (from the roll-ups) --------------------------------------------------------


async def invoiced_by_day(
    session: AsyncSession, currency: str, first: date, last: date
) -> dict[date, dict[str, int]]:
    """Finalized invoices per issuing day: count, total and collected cents."""
    daily = BillingInvoiceDaily
    rows = await session.execute(
        select(
            daily.day,
            func.sum(daily.invoices),
            func.sum(daily.total_amount_cents),
            func.sum(
                case((daily.payment_status == "succeeded", daily.total_amount_cents), else_=0)
            ),
        )
        .where(
            daily.currency == currency,
            daily.status == "finalized",
            daily.day >= first,
            daily.day <= last,
        )
        .group_by(daily.day)
    )
    return {
        _as_date(day): {"invoices": int(n), "invoiced": int(total), "collected": int(paid)}
        for day, n, total, paid in rows
    }


def bucket_start(day: date, interval: str) -> date:
    if interval == "week":
        return day - timedelta(days=day.weekday())
    if interval == "month":
        return day.replace(day=1)
    return day


def buckets(first: date, last: date, interval: str) -> list[tuple[date, date]]:
    """(first day, last day) of each bucket overlapping [first, last], clipped to it."""
    result, cursor = [], bucket_start(first, interval)
    while cursor <= last:
        if interval == "week":
            following = cursor + timedelta(days=7)
        elif interval == "month":
            following = calendar_month(at_midnight(cursor))[1].date()
        else:
            following = cursor + timedelta(days=1)
        result.append((max(cursor, first), min(following - timedelta(days=1), last)))
        cursor = following
    return result


async def invoiced_customers(
    session: AsyncSession, currency: str, interval: str, starts: list[date]
) -> list[int]:
    """Distinct customers with a finalized invoice in each whole day, week or month."""
    table = BillingInvoiceCustomers
    rows = (
        await session.execute(
            select(table.start, table.customers).where(
                table.period == interval,
                table.currency == currency,
                table.start >= starts[0],
                table.start <= starts[-1],
            )
        )
        if starts
        else []
    )
    found = {_as_date(start): int(n) for start, n in rows}
    return [found.get(start, 0) for start in starts]


# --- customers ---------------------------------------------------------------------------


async def top_customers(
    session: AsyncSession, currency: str, moment: datetime, limit: int, offset: int
) -> list[dict[str, Any]]:
    annual = func.sum(ANNUAL).label("annual")
    ranked = (
        select(Sub.customer_id, func.count().label("subscriptions"), annual)
        .join(Plan, Plan.id == Sub.plan_id)
        .where(active_at(moment), Plan.currency == currency)
        .group_by(Sub.customer_id)
        .order_by(annual.desc(), Sub.customer_id)
        .limit(limit)
        .offset(offset)
        .subquery()
    )
    revenue = BillingCustomerRevenue
    rows = await session.execute(
        select(
            ranked.c.customer_id,
            ranked.c.subscriptions,
            ranked.c.annual,
            BillingCustomer.name,
            BillingCustomer.email,
            func.coalesce(revenue.invoiced_cents, 0),
            func.coalesce(revenue.collected_cents, 0),
        )
        .join(BillingCustomer, BillingCustomer.id == ranked.c.customer_id)
        .outerjoin(
            revenue, and_(revenue.customer_id == ranked.c.customer_id, revenue.currency == currency)
        )
        .order_by(ranked.c.annual.desc(), ranked.c.customer_id)
    )
    return [
        {
            "customer_id": cid,
            "subscriptions": int(subs),
            "annual": int(annual_cents),
            "name": name,
            "email": email,
            "invoiced": int(invoiced),
            "collected": int(collected),
        }
        for cid, subs, annual_cents, name, email, invoiced, collected in rows
    ]


async def cohorts(
    session: AsyncSession, currency: str, since: datetime, moment: datetime
) -> list[dict[str, Any]]:
    """Customers by the month they were created: count, invoiced total, still subscribed."""
    if session.bind.dialect.name == "postgresql":
        month = func.to_char(func.timezone("UTC", BillingCustomer.created_at), "YYYY-MM")
    else:
        month = func.strftime("%Y-%m", BillingCustomer.created_at)
    subscribed = (
        select(Sub.id).where(Sub.customer_id == BillingCustomer.id, active_at(moment)).exists()
    )
    revenue = BillingCustomerRevenue
    rows = await session.execute(
        select(
            month.label("month"),
            func.count(),
            func.coalesce(func.sum(revenue.invoiced_cents), 0),
            func.sum(case((subscribed, 1), else_=0)),
        )
        .outerjoin(
            revenue, and_(revenue.customer_id == BillingCustomer.id, revenue.currency == currency)
        )
        .where(BillingCustomer.created_at >= since)
        .group_by(month)
        .order_by(month.desc())
    )
    return [
        {"cohort": m, "customers": int(n), "invoiced": int(total), "retained": int(kept or 0)}
        for m, n, total, kept in rows
    ]


# --- monthly movements, kept for past months ---------------------------------------------


def month_bounds(month: date) -> tuple[datetime, datetime]:
    """A month runs from just before its first instant to just before the next month's,
    the instants at which the daily roll-up's day ends fall."""
    start = at_midnight(month)
    following = calendar_month(start)[1]
    tick = timedelta(microseconds=1)
    return start - tick, following - tick


async def refresh_movement_months(
    session: AsyncSession, moments: list[datetime | None] | None = None
) -> None:
    """Recompute the stored movements of the past months containing `moments` (None: every
    past month since the first subscription). The current month is always computed live."""
    await session.flush()
    this_month = calendar_month(utcnow())[0].date()
    if moments is None:
        first = await session.scalar(select(func.min(Sub.started_at)).where(LIVE))
        months: set[date] = set()
        cursor = calendar_month(first)[0].date() if first else this_month
        while cursor < this_month:
            months.add(cursor)
            cursor = calendar_month(at_midnight(cursor))[1].date()
        await session.execute(delete(BillingMovementMonthly))
    else:
        months = {calendar_month(m.astimezone(UTC))[0].date() for m in moments if m}
        months = {m for m in months if m < this_month}
        if not months:
            return
        await session.execute(
            delete(BillingMovementMonthly).where(BillingMovementMonthly.month.in_(sorted(months)))
        )
    currencies = sorted({plan.currency for plan in (await plans(session)).values()})
    rows = []
    for month in sorted(months):
        for currency in currencies:
            moved = (await _movement(session, currency, list(month_bounds(month))))[0]
            if any(moved.values()):
                rows.append({"month": month, "currency": currency, **moved})
    if rows:
        await session.execute(insert(BillingMovementMonthly), rows)


async def stored_movements(
    session: AsyncSession, currency: str, months: list[date]
) -> dict[date, dict[str, int]]:
    table = BillingMovementMonthly
    rows = await session.execute(
        select(table).where(table.currency == currency, table.month.in_(months))
    )
    names = ("new", "expansion", "contraction", "churned", "customers_new", "customers_churned")
    return {
        _as_date(row.month): {name: getattr(row, name) for name in names} for row in rows.scalars()
    }
