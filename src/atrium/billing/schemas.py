"""Billing request and response models. Money is integer cents (minor units) with an ISO 4217
currency; analytics shapes live in the Ops Center surface."""

from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, EmailStr, Field, field_validator

from atrium.billing.currency import checked_currency
from atrium.params import MAX_ID

MAX_START_DISTANCE = timedelta(days=3653)
Interval = Literal["weekly", "monthly", "quarterly", "semiannual", "yearly"]
SubscriptionStatus = Literal["active", "pending", "canceled", "terminated"]
InvoiceStatus = Literal["draft", "finalized", "voided"]
PaymentStatus = Literal["pending", "succeeded", "failed"]
Source = Literal["atrium", "lago"]
Currency = Annotated[str, Field(min_length=3, max_length=3), AfterValidator(checked_currency)]
Cents = Annotated[int, Field(ge=0, le=10**10)]  # sums stay within 64 bits
Code = Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]*$")]
Name = Annotated[str, Field(min_length=1, max_length=200)]
TierName = Annotated[str, Field(min_length=1, max_length=64)]


def _not_blank(value: str | None) -> str | None:
    if value is None:
        return None
    value = value.strip()
    if not value:
        raise ValueError("must not be blank")
    return value


class PlanCreate(BaseModel):
    code: Code
    name: Name
    interval: Interval
    amount_cents: Cents
    currency: Currency
    tier: TierName | None = None
    description: str | None = Field(default=None, max_length=2000)

    _names = field_validator("name", "tier")(_not_blank)


class PlanUpdate(BaseModel):
    name: Name | None = None
    interval: Interval | None = None
    amount_cents: Cents | None = None
    currency: Currency | None = None
    tier: TierName | None = None
    description: str | None = Field(default=None, max_length=2000)

    _names = field_validator("name", "tier")(_not_blank)


class PlanRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    code: str
    name: str
    interval: Interval
    amount_cents: int
    currency: str
    tier: str | None
    description: str | None
    source: Source
    lago_id: str | None
    created_at: datetime
    updated_at: datetime


class CustomerCreate(BaseModel):
    name: Name
    email: EmailStr | None = None
    user_id: int | None = Field(default=None, ge=1, le=MAX_ID)
    external_id: str | None = Field(default=None, min_length=1, max_length=255)
    currency: Currency | None = None

    _names = field_validator("name")(_not_blank)


class CustomerRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    user_id: int | None
    external_id: str | None
    name: str
    email: str | None
    currency: str | None
    source: Source
    lago_id: str | None
    created_at: datetime


class SubscriptionCreate(BaseModel):
    customer_id: int = Field(ge=1, le=MAX_ID)
    plan_code: Code
    started_at: datetime | None = Field(
        default=None, description="Defaults to now; a time ahead makes the subscription pending"
    )
    external_id: str | None = Field(default=None, min_length=1, max_length=255)

    @field_validator("started_at")
    @classmethod
    def aware(cls, value: datetime | None) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("give a time zone (e.g. 2026-01-01T00:00:00Z)")
        if abs(value - datetime.now(UTC)) > MAX_START_DISTANCE:
            raise ValueError("must lie within ten years of now")
        return value


class SubscriptionCancel(BaseModel):
    at_period_end: bool = False


class SubscriptionRead(BaseModel):
    id: int
    customer_id: int
    plan_id: int
    plan_code: str
    external_id: str | None
    status: SubscriptionStatus
    started_at: datetime
    canceled_at: datetime | None
    terminated_at: datetime | None
    current_period_start: datetime | None
    current_period_end: datetime | None
    source: Source
    lago_id: str | None
    created_at: datetime


class InvoiceLineRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    kind: str
    description: str
    units: int
    amount_cents: int
    properties: dict[str, Any]


class InvoiceRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    number: str
    customer_id: int
    subscription_id: int | None
    issuing_date: date
    period_start: datetime | None
    period_end: datetime | None
    status: InvoiceStatus
    payment_status: PaymentStatus
    currency: str
    fees_amount_cents: int
    taxes_amount_cents: int
    total_amount_cents: int
    source: Source
    lago_id: str | None
    created_at: datetime


class InvoiceDetail(InvoiceRead):
    lines: list[InvoiceLineRead]


class UsageThisPeriod(BaseModel):
    requests: int
    input_tokens: int
    output_tokens: int
    tokens: int
    cost_usd: float


class BillingMe(BaseModel):
    customer: CustomerRead | None
    subscription: SubscriptionRead | None
    plan: PlanRead | None
    tier: str | None
    period_start: datetime
    period_end: datetime
    usage: UsageThisPeriod
    limits: dict[str, Any] | None = Field(
        description="The user's tier (`source`: subscription, assigned or default) and its "
        "monthly limits (null: unlimited); null when no tier is defined"
    )
    invoices: list[InvoiceRead]


class SyncRunRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    job_id: int | None
    status: Literal["queued", "running", "completed", "failed"]
    counts: dict[str, int]
    error: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


class SyncStatus(BaseModel):
    configured: bool
    last_run: SyncRunRead | None


class Deleted(BaseModel):
    id: int
    deleted: bool = True
    archived: bool = False
