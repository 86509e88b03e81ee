"""Billing records: plans, customers, subscriptions and invoices. Lago's records are read-only
here (the sync owns them); Atrium's own are managed by administrators."""

from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, func, or_, select, true
from sqlalchemy.ext.asyncio import AsyncSession

from atrium.auth.principal import Principal
from atrium.billing import analytics, periods, rollups
from atrium.billing.errors import (
    AlreadyCanceled,
    CurrencyMismatch,
    CustomerNotFound,
    CustomerTaken,
    InvoiceNotFound,
    LagoRecordReadOnly,
    PlanCodeTaken,
    PlanInUse,
    PlanNotFound,
    SubscriptionNotFound,
    UnknownPlan,
)
from atrium.billing.predicates import active_at
from atrium.billing.schemas import (
    CustomerCreate,
    PlanCreate,
    PlanUpdate,
    SubscriptionCreate,
)
from atrium.billing.tables import (
    BillingCustomer,
    BillingInvoice,
    BillingInvoiceLine,
    BillingPlan,
    BillingSubscription,
)
from atrium.config import Settings
from atrium.db import utcnow
from atrium.errors import Unprocessable
from atrium.tiers import service as tiers_service
from atrium.tiers.errors import TierNotFound
from atrium.users import service as users_service

MAX_PAGE = 1000
Sub = BillingSubscription


# --- status as of a moment ---------------------------------------------------------------


def status_condition(status: str, moment: datetime) -> ColumnElement[bool]:
    if status == "active":
        return active_at(moment)
    if status == "pending":
        return and_(Sub.status == "pending", Sub.started_at > moment)
    if status == "terminated":
        return or_(
            Sub.status == "terminated",
            and_(Sub.status != "canceled", Sub.terminated_at <= moment),
        )
    return Sub.status == "canceled"


def effective_status(sub: BillingSubscription, moment: datetime) -> str:
    if sub.status == "canceled":
        return "canceled"
    if sub.status == "terminated" or (sub.terminated_at and sub.terminated_at <= moment):
        return "terminated"
    return "active" if sub.started_at <= moment else "pending"


# --- pagination --------------------------------------------------------------------------


async def _page(session: AsyncSession, query, model, limit: int | None, after_id: int | None):
    size = min(limit or 100, MAX_PAGE)
    if after_id is not None:
        query = query.where(model.id > after_id)
    rows = list(await session.scalars(query.order_by(model.id).limit(size + 1)))
    if len(rows) > size:
        return rows[:size], rows[size - 1].id
    return rows, None


def _own_lago(record: Any) -> None:
    if record.source == "lago":
        raise LagoRecordReadOnly()


# --- plans -------------------------------------------------------------------------------


async def list_plans(session: AsyncSession, *, limit: int | None, after_id: int | None):
    query = select(BillingPlan).where(BillingPlan.archived_at.is_(None))
    return await _page(session, query, BillingPlan, limit, after_id)


async def get_plan(session: AsyncSession, plan_id: int) -> BillingPlan:
    plan = await session.scalar(
        select(BillingPlan).where(BillingPlan.id == plan_id, BillingPlan.archived_at.is_(None))
    )
    if plan is None:
        raise PlanNotFound()
    return plan


async def plan_by_code(session: AsyncSession, code: str) -> BillingPlan:
    plan = await session.scalar(
        select(BillingPlan).where(BillingPlan.code == code, BillingPlan.archived_at.is_(None))
    )
    if plan is None:
        raise UnknownPlan(f"No plan has the code {code!r}")
    return plan


async def _check_tier(session: AsyncSession, name: str | None) -> None:
    if name is None:
        return
    try:
        await tiers_service.find_tier(session, name)
    except TierNotFound:
        raise Unprocessable(f"No tier is named {name!r}", field="tier") from None


async def create_plan(session: AsyncSession, data: PlanCreate) -> BillingPlan:
    await _check_tier(session, data.tier)
    if await session.scalar(select(BillingPlan.id).where(BillingPlan.code == data.code)):
        raise PlanCodeTaken(f"A plan with the code {data.code!r} already exists")
    plan = BillingPlan(**data.model_dump(), source="atrium")
    session.add(plan)
    await session.flush()
    return plan


async def update_plan(session: AsyncSession, plan_id: int, changes: PlanUpdate) -> BillingPlan:
    plan = await get_plan(session, plan_id)
    values = changes.model_dump(exclude_unset=True)
    if plan.source == "lago" and set(values) - {"tier"}:
        # Lago owns the plan; only the tier it grants is Atrium's to set
        raise LagoRecordReadOnly("This plan is synced from Lago; only its tier can change here")
    await _check_tier(session, values.get("tier"))
    for field in ("name", "interval", "amount_cents", "currency"):
        if field in values and values[field] is None:
            raise Unprocessable(f"{field} must not be null", field=field)
    if values.get("currency", plan.currency) != plan.currency and await _subscribed(
        session, plan.id
    ):
        raise PlanInUse("The currency of a plan with subscriptions cannot change")
    for field, value in values.items():
        setattr(plan, field, value)
    plan.updated_at = utcnow()
    await session.flush()
    if set(values) & {"amount_cents", "interval", "currency"}:
        await analytics.refresh_movement_months(session)
    return plan


async def _subscribed(session: AsyncSession, plan_id: int) -> bool:
    now = utcnow()
    live = or_(active_at(now), status_condition("pending", now))
    found = await session.scalar(select(Sub.id).where(Sub.plan_id == plan_id, live).limit(1))
    return found is not None


async def delete_plan(session: AsyncSession, plan_id: int) -> bool:
    """Deletes the plan, or archives it when ended subscriptions still name it (their history
    feeds the analytics); True when archived. Refused while subscribed."""
    plan = await get_plan(session, plan_id)
    _own_lago(plan)
    if await _subscribed(session, plan.id):
        raise PlanInUse()
    if await session.scalar(select(Sub.id).where(Sub.plan_id == plan.id).limit(1)):
        plan.archived_at = utcnow()
        await session.flush()
        return True
    await session.delete(plan)
    await session.flush()
    return False


# --- customers ---------------------------------------------------------------------------


def _visible_customers(principal: Principal) -> ColumnElement[bool]:
    if principal.reaches("billing", "read"):
        return true()
    return BillingCustomer.user_id == principal.user_id


async def list_customers(
    session: AsyncSession, principal: Principal, *, limit: int | None, after_id: int | None
):
    query = select(BillingCustomer).where(_visible_customers(principal))
    return await _page(session, query, BillingCustomer, limit, after_id)


async def get_customer(
    session: AsyncSession, principal: Principal, customer_id: int
) -> BillingCustomer:
    customer = await session.scalar(
        select(BillingCustomer).where(
            BillingCustomer.id == customer_id, _visible_customers(principal)
        )
    )
    if customer is None:
        raise CustomerNotFound()
    return customer


async def create_customer(
    session: AsyncSession, settings: Settings, data: CustomerCreate
) -> BillingCustomer:
    if data.user_id is not None:
        if not await users_service.user_exists(session, data.user_id):
            raise Unprocessable("No user has this id", field="user_id")
        taken = select(BillingCustomer.id).where(BillingCustomer.user_id == data.user_id)
        if await session.scalar(taken):
            raise CustomerTaken("This user already has a billing customer")
    if data.external_id is not None:
        taken = select(BillingCustomer.id).where(BillingCustomer.external_id == data.external_id)
        if await session.scalar(taken):
            raise CustomerTaken("A customer with this external id already exists")
    values = data.model_dump()
    values["currency"] = values["currency"] or settings.billing_currency.upper()
    customer = BillingCustomer(**values, source="atrium")
    session.add(customer)
    await session.flush()
    return customer


# --- subscriptions -----------------------------------------------------------------------


def subscription_read(sub: BillingSubscription, plan: BillingPlan, now: datetime) -> dict:
    status = effective_status(sub, now)
    start = end = None
    if status == "active":
        start, end = periods.period_around(sub.started_at, plan.interval, now)
    return {
        "id": sub.id,
        "customer_id": sub.customer_id,
        "plan_id": plan.id,
        "plan_code": plan.code,
        "external_id": sub.external_id,
        "status": status,
        "started_at": sub.started_at,
        "canceled_at": sub.canceled_at,
        "terminated_at": sub.terminated_at,
        "current_period_start": start,
        "current_period_end": end,
        "source": sub.source,
        "lago_id": sub.lago_id,
        "created_at": sub.created_at,
    }


async def list_subscriptions(
    session: AsyncSession,
    principal: Principal,
    *,
    status: str | None = None,
    customer_id: int | None = None,
    plan_code: str | None = None,
    source: str | None = None,
    limit: int | None = None,
    after_id: int | None = None,
) -> tuple[list[dict], int | None]:
    now = utcnow()
    query = (
        select(Sub)
        .join(BillingCustomer, BillingCustomer.id == Sub.customer_id)
        .where(_visible_customers(principal))
    )
    if status is not None:
        query = query.where(status_condition(status, now))
    if customer_id is not None:
        query = query.where(Sub.customer_id == customer_id)
    if plan_code is not None:
        query = query.join(BillingPlan, BillingPlan.id == Sub.plan_id).where(
            BillingPlan.code == plan_code
        )
    if source is not None:
        query = query.where(Sub.source == source)
    rows, next_after = await _page(session, query, Sub, limit, after_id)
    plans = await _plans_by_id(session, {row.plan_id for row in rows})
    return [subscription_read(row, plans[row.plan_id], now) for row in rows], next_after


async def _plans_by_id(session: AsyncSession, ids: set[int]) -> dict[int, BillingPlan]:
    if not ids:
        return {}
    rows = await session.scalars(select(BillingPlan).where(BillingPlan.id.in_(ids)))
    return {plan.id: plan for plan in rows}


async def get_subscription(
    session: AsyncSession, principal: Principal, subscription_id: int
) -> BillingSubscription:
    sub = await session.scalar(
        select(Sub)
        .join(BillingCustomer, BillingCustomer.id == Sub.customer_id)
        .where(Sub.id == subscription_id, _visible_customers(principal))
    )
    if sub is None:
        raise SubscriptionNotFound()
    return sub


async def read_subscription(session: AsyncSession, sub: BillingSubscription) -> dict:
    plan = await session.get(BillingPlan, sub.plan_id)
    return subscription_read(sub, plan, utcnow())


async def create_subscription(
    session: AsyncSession, principal: Principal, data: SubscriptionCreate
) -> dict:
    customer = await get_customer(session, principal, data.customer_id)
    plan = await plan_by_code(session, data.plan_code)
    if customer.currency and customer.currency != plan.currency:
        raise CurrencyMismatch(
            f"The plan bills in {plan.currency}; the customer in {customer.currency}"
        )
    if data.external_id is not None and await session.scalar(
        select(Sub.id).where(Sub.external_id == data.external_id)
    ):
        raise Unprocessable("A subscription with this external id exists", field="external_id")
    now = utcnow()
    started = data.started_at or now
    sub = Sub(
        customer_id=customer.id,
        plan_id=plan.id,
        external_id=data.external_id,
        status="pending" if started > now else "active",
        started_at=started,
        source="atrium",
    )
    session.add(sub)
    await session.flush()
    await rollups.refresh_subscription_days(session, rollups.subscription_days(started))
    await analytics.refresh_movement_months(session, [started])
    return subscription_read(sub, plan, now)


async def cancel_subscription(
    session: AsyncSession, principal: Principal, subscription_id: int, *, at_period_end: bool
) -> dict:
    """Pending -> canceled; active -> terminated now, or at the current period's end."""
    sub = await get_subscription(session, principal, subscription_id)
    _own_lago(sub)
    plan = await session.get(BillingPlan, sub.plan_id)
    now = utcnow()
    status = effective_status(sub, now)
    if status in ("canceled", "terminated") or sub.terminated_at is not None:
        raise AlreadyCanceled(
            "The subscription is already canceled or terminated"
            if sub.terminated_at is None or sub.terminated_at <= now
            else f"The subscription already ends at {sub.terminated_at.isoformat()}"
        )
    if status == "pending":
        sub.status, sub.canceled_at = "canceled", now
    elif at_period_end:
        sub.terminated_at = periods.period_around(sub.started_at, plan.interval, now)[1]
    else:
        sub.status, sub.terminated_at = "terminated", now
    sub.updated_at = now
    await session.flush()
    touched = rollups.subscription_days(sub.started_at, sub.terminated_at)
    await rollups.refresh_subscription_days(session, touched)
    await analytics.refresh_movement_months(session, [sub.started_at, sub.terminated_at])
    return subscription_read(sub, plan, now)


async def active_subscription_of_user(
    session: AsyncSession, user_id: int, moment: datetime | None = None
) -> tuple[BillingSubscription, BillingPlan, BillingCustomer] | None:
    """The user's billing subscription active now (the latest started), with plan and customer."""
    row = (
        await session.execute(
            select(Sub, BillingPlan, BillingCustomer)
            .join(BillingCustomer, BillingCustomer.id == Sub.customer_id)
            .join(BillingPlan, BillingPlan.id == Sub.plan_id)
            .where(BillingCustomer.user_id == user_id, active_at(moment or utcnow()))
            .order_by(Sub.started_at.desc(), Sub.id.desc())
            .limit(1)
        )
    ).first()
    return tuple(row) if row is not None else None


async def active_plan_tier_name(session: AsyncSession, user_id: int) -> str | None:
    """The tier named by the user's active subscription's plan (None: no subscription, or a
    plan without a tier). The tiers domain calls this; billing knows nothing of limits."""
    found = await active_subscription_of_user(session, user_id)
    return found[1].tier if found is not None else None


async def active_plan_tier_name_for(app: Any, user_id: int) -> str | None:
    """`active_plan_tier_name` in a session of its own (callers outside a request)."""
    async with app.state.db.sessions() as session:
        return await active_plan_tier_name(session, user_id)


# --- invoices ----------------------------------------------------------------------------


async def list_invoices(
    session: AsyncSession,
    principal: Principal,
    *,
    customer_id: int | None = None,
    subscription_id: int | None = None,
    status: str | None = None,
    payment_status: str | None = None,
    limit: int | None = None,
    after_id: int | None = None,
):
    query = (
        select(BillingInvoice)
        .join(BillingCustomer, BillingCustomer.id == BillingInvoice.customer_id)
        .where(_visible_customers(principal))
    )
    filters = {
        BillingInvoice.customer_id: customer_id,
        BillingInvoice.subscription_id: subscription_id,
        BillingInvoice.status: status,
        BillingInvoice.payment_status: payment_status,
    }
    for column, value in filters.items():
        if value is not None:
            query = query.where(column == value)
    return await _page(session, query, BillingInvoice, limit, after_id)


async def get_invoice(
    session: AsyncSession, principal: Principal, invoice_id: int
) -> BillingInvoice:
    invoice = await session.scalar(
        select(BillingInvoice)
        .join(BillingCustomer, BillingCustomer.id == BillingInvoice.customer_id)
        .where(BillingInvoice.id == invoice_id, _visible_customers(principal))
    )
    if invoice is None:
        raise InvoiceNotFound()
    return invoice


async def invoice_lines(session: AsyncSession, invoice_id: int) -> list[BillingInvoiceLine]:
    rows = await session.scalars(
        select(BillingInvoiceLine)
        .where(BillingInvoiceLine.invoice_id == invoice_id)
        .order_by(BillingInvoiceLine.id)
    )
    return list(rows)


async def recent_invoices(
    session: AsyncSession, customer_id: int, limit: int = 12
) -> list[BillingInvoice]:
    rows = await session.scalars(
        select(BillingInvoice)
        .where(BillingInvoice.customer_id == customer_id)
        .order_by(BillingInvoice.issuing_date.desc(), BillingInvoice.id.desc())
        .limit(limit)
    )
    return list(rows)


async def customer_of_user(session: AsyncSession, user_id: int) -> BillingCustomer | None:
    return await session.scalar(
        select(BillingCustomer)
        .where(BillingCustomer.user_id == user_id)
        .order_by(BillingCustomer.id)
        .limit(1)
    )


async def count_customers(session: AsyncSession) -> int:
    return int(await session.scalar(select(func.count()).select_from(BillingCustomer)) or 0)


# a user's tier is their active subscription's plan's tier, when they have one
tiers_service.register_tier_resolver(active_plan_tier_name)
