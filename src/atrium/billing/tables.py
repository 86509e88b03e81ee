"""Billing records: plans, customers, subscriptions, invoices with their lines, the roll-ups
the revenue analytics read, Lago sync runs and the outbox of usage events sent to Lago."""

from datetime import date, datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from atrium.db import Base, UTCDateTime, utcnow


class BillingPlan(Base):
    __tablename__ = "billing_plan"
    __table_args__ = (CheckConstraint("amount_cents >= 0", name="amount_not_negative"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(100), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    interval: Mapped[str] = mapped_column(String(16))
    amount_cents: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    tier: Mapped[str | None] = mapped_column(String(64))
    description: Mapped[str | None] = mapped_column(Text)
    source: Mapped[str] = mapped_column(String(8), default="atrium")
    lago_id: Mapped[str | None] = mapped_column(String(64), unique=True)
    # a plan with subscription history is archived rather than deleted
    archived_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class BillingCustomer(Base):
    __tablename__ = "billing_customer"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # billing records are kept when the user goes (records kept -> set null)
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("app_user.id", ondelete="SET NULL"), index=True
    )
    external_id: Mapped[str | None] = mapped_column(String(255), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(320))
    currency: Mapped[str | None] = mapped_column(String(3))
    source: Mapped[str] = mapped_column(String(8), default="atrium")
    lago_id: Mapped[str | None] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class BillingSubscription(Base):
    """A customer on a plan. Active at time t: started by t, never merely pending or
    canceled, and not terminated by t (`terminated_at` may lie ahead: at the period's end)."""

    __tablename__ = "billing_subscription"
    __table_args__ = (
        # covering indexes: the revenue analytics read subscriptions from these alone
        Index(
            "ix_billing_subscription_started_cover",
            "started_at",
            "plan_id",
            "status",
            "terminated_at",
            "customer_id",
        ),
        Index(
            "ix_billing_subscription_customer_cover",
            "customer_id",
            "plan_id",
            "status",
            "started_at",
            "terminated_at",
        ),
        Index(
            "ix_billing_subscription_terminated_cover",
            "terminated_at",
            "plan_id",
            "status",
            "customer_id",
        ),
        Index("ix_billing_subscription_plan_id_status", "plan_id", "status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("billing_customer.id", ondelete="CASCADE"))
    plan_id: Mapped[int] = mapped_column(ForeignKey("billing_plan.id", ondelete="RESTRICT"))
    external_id: Mapped[str | None] = mapped_column(String(255), unique=True)
    status: Mapped[str] = mapped_column(String(16))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    canceled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    terminated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # the start of the first period not yet invoiced (embedded invoicing)
    invoiced_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # set once the final invoice of an ended subscription is issued
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    source: Mapped[str] = mapped_column(String(8), default="atrium")
    lago_id: Mapped[str | None] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class BillingInvoice(Base):
    __tablename__ = "billing_invoice"
    __table_args__ = (
        UniqueConstraint("subscription_id", "period_start"),
        Index("ix_billing_invoice_customer_id_issuing_date", "customer_id", "issuing_date"),
        Index(
            "ix_billing_invoice_issuing_date_status_customer_id",
            "issuing_date",
            "status",
            "customer_id",
        ),
        CheckConstraint("total_amount_cents >= 0", name="total_not_negative"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    number: Mapped[str] = mapped_column(String(64), unique=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("billing_customer.id", ondelete="CASCADE"))
    subscription_id: Mapped[int | None] = mapped_column(
        ForeignKey("billing_subscription.id", ondelete="SET NULL")
    )
    issuing_date: Mapped[date] = mapped_column(Date)
    period_start: Mapped[datetime | None] = mapped_column(UTCDateTime)
    period_end: Mapped[datetime | None] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(16))
    payment_status: Mapped[str] = mapped_column(String(16))
    currency: Mapped[str] = mapped_column(String(3))
    fees_amount_cents: Mapped[int] = mapped_column(BigInteger, default=0)
    taxes_amount_cents: Mapped[int] = mapped_column(BigInteger, default=0)
    total_amount_cents: Mapped[int] = mapped_column(BigInteger, default=0)
    source: Mapped[str] = mapped_column(String(8), default="atrium")
    lago_id: Mapped[str | None] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class BillingInvoiceLine(Base):
    __tablename__ = "billing_invoice_line"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    invoice_id: Mapped[int] = mapped_column(
        ForeignKey("billing_invoice.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(16))  # subscription | usage
    description: Mapped[str] = mapped_column(String(300))
    units: Mapped[int] = mapped_column(BigInteger, default=0)
    amount_cents: Mapped[int] = mapped_column(BigInteger, default=0)
    properties: Mapped[dict] = mapped_column(JSON, default=dict)


class BillingInvoiceDaily(Base):
    """Invoice totals per issuing day, currency and statuses, rebuilt for the days touched."""

    __tablename__ = "billing_invoice_daily"
    __table_args__ = (UniqueConstraint("day", "currency", "status", "payment_status"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    day: Mapped[date] = mapped_column(Date)
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[str] = mapped_column(String(16))
    payment_status: Mapped[str] = mapped_column(String(16))
    invoices: Mapped[int] = mapped_column(Integer, default=0)
    customers: Mapped[int] = mapped_column(Integer, default=0)
    fees_amount_cents: Mapped[int] = mapped_column(BigInteger, default=0)
    taxes_amount_cents: Mapped[int] = mapped_column(BigInteger, default=0)
    total_amount_cents: Mapped[int] = mapped_column(BigInteger, default=0)


class BillingInvoiceCustomers(Base):
    """Distinct customers with a finalized invoice per day, week (from Monday) and calendar
    month, per currency."""

    __tablename__ = "billing_invoice_customers"
    __table_args__ = (UniqueConstraint("period", "start", "currency"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    period: Mapped[str] = mapped_column(String(8))  # day | week | month
    start: Mapped[date] = mapped_column(Date)
    currency: Mapped[str] = mapped_column(String(3))
    customers: Mapped[int] = mapped_column(Integer, default=0)


class BillingSubscriptionDaily(Base):
    """Per day and plan: subscriptions that started and that ended (canceled ones aside).
    MRR at any past day is a running sum of these; today's part is read exactly."""

    __tablename__ = "billing_subscription_daily"
    __table_args__ = (UniqueConstraint("day", "plan_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    day: Mapped[date] = mapped_column(Date)
    plan_id: Mapped[int] = mapped_column(ForeignKey("billing_plan.id", ondelete="CASCADE"))
    started: Mapped[int] = mapped_column(Integer, default=0)
    ended: Mapped[int] = mapped_column(Integer, default=0)


class BillingMovementMonthly(Base):
    """Customer-level MRR movement per past calendar month and currency (annual cents)."""

    __tablename__ = "billing_movement_monthly"
    __table_args__ = (UniqueConstraint("month", "currency"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    month: Mapped[date] = mapped_column(Date)
    currency: Mapped[str] = mapped_column(String(3))
    new: Mapped[int] = mapped_column(BigInteger, default=0)
    expansion: Mapped[int] = mapped_column(BigInteger, default=0)
    contraction: Mapped[int] = mapped_column(BigInteger, default=0)
    churned: Mapped[int] = mapped_column(BigInteger, default=0)
    customers_new: Mapped[int] = mapped_column(Integer, default=0)
    customers_churned: Mapped[int] = mapped_column(Integer, default=0)


class BillingCustomerRevenue(Base):
    """Invoiced and collected totals per customer and currency (finalized invoices)."""

    __tablename__ = "billing_customer_revenue"

    customer_id: Mapped[int] = mapped_column(
        ForeignKey("billing_customer.id", ondelete="CASCADE"), primary_key=True
    )
    currency: Mapped[str] = mapped_column(String(3), primary_key=True)
    invoices: Mapped[int] = mapped_column(Integer, default=0)
    invoiced_cents: Mapped[int] = mapped_column(BigInteger, default=0)
    collected_cents: Mapped[int] = mapped_column(BigInteger, default=0)


class BillingSyncRun(Base):
    __tablename__ = "billing_sync_run"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    job_id: Mapped[int | None] = mapped_column(Integer)
    requested_by: Mapped[int | None] = mapped_column(ForeignKey("app_user.id", ondelete="SET NULL"))
    status: Mapped[str] = mapped_column(String(16), default="queued")
    counts: Mapped[dict] = mapped_column(JSON, default=dict)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class BillingUsageEvent(Base):
    """Outbox of usage events for Lago: written with the usage batch, sent after it."""

    __tablename__ = "billing_usage_event"
    __table_args__ = (
        Index("ix_billing_usage_event_status_next_attempt_at", "status", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    transaction_id: Mapped[str] = mapped_column(String(64), unique=True)
    external_subscription_id: Mapped[str] = mapped_column(String(255))
    code: Mapped[str] = mapped_column(String(64))
    properties: Mapped[dict] = mapped_column(JSON, default=dict)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending|sent|failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
