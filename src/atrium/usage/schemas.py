"""Prices (`/api/v1/llm/prices`) and the answers of the usage analytics (`/api/v1/llm/usage/*`,
seed 002's shapes per CONTRACTS). Analytics answers are open to added fields
(`extra="allow"`); the fields named here are always sent."""

from datetime import datetime

from pydantic import AliasChoices, BaseModel, ConfigDict, Field


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class DayFigures(_Open):
    date: str
    calls: int
    tokens: int
    input_tokens: int
    output_tokens: int
    cost: float
    avg_response_time: float
    errors: int


class UsageOverview(_Open):
    total_calls: int
    total_tokens: int
    input_tokens: int
    output_tokens: int
    total_cost: float
    avg_response_time: float
    error_rate: float
    period_days: int
    most_used_model: str | None
    daily_breakdown: list[DayFigures]


class ModelUsage(_Open):
    model: str
    calls: int
    tokens: int
    cost: float
    avg_response_time: float
    error_count: int


class UsageByModel(_Open):
    period_days: int
    model_count: int
    models: list[ModelUsage]
    total_calls: int
    total_cost: float


class UserUsage(_Open):
    user_id: str | None
    username: str
    calls: int
    tokens: int
    cost: float
    errors: int
    last_activity: datetime | str | None


class UsageByUser(_Open):
    period_days: int
    user_count: int
    users: list[UserUsage]
    total_calls: int
    total_cost: float
    avg_calls_per_user: float


class DayCost(_Open):
    date: str
    cost: float


class CostTrend(_Open):
    direction: str
    first_half_cost: float
    second_half_cost: float
    change_percent: float | None


class UsageCosts(_Open):
    period_days: int
    total_cost: float
    cost_by_model: dict[str, float]
    cost_by_user: dict[str, float]
    projected_monthly_cost: float
    daily_costs: list[DayCost]
    cost_trends: CostTrend


class UsageHistory(_Open):
    period_days: int
    history: list[DayFigures]


class TopUsers(_Open):
    metric: str
    limit: int
    period_days: int
    top_users: list[UserUsage]


class TopModels(_Open):
    metric: str
    limit: int
    period_days: int
    top_models: list[ModelUsage]


class UsageForecast(_Open):
    """`available: false` with `reason` and `days_needed` until there is enough history; then
    `forecast` (a point per day with bounds) and the projected totals."""

    available: bool
    horizon_days: int
    history_days: int


class PriceItem(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    provider_type: str = Field("", max_length=32)
    model: str = Field(min_length=1, max_length=200)
    input_usd_per_mtok: float = Field(
        ge=0, validation_alias=AliasChoices("input_usd_per_mtok", "input")
    )
    output_usd_per_mtok: float = Field(
        ge=0, validation_alias=AliasChoices("output_usd_per_mtok", "output")
    )


class PriceList(BaseModel):
    prices: list[PriceItem]


class PriceRead(BaseModel):
    provider_type: str
    model: str
    input_usd_per_mtok: float
    output_usd_per_mtok: float
    updated_at: datetime | None


class PricesRead(BaseModel):
    prices: list[PriceRead]
