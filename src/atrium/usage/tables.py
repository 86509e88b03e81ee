"""Metered usage: one record per gateway call, daily roll-ups, and the model price table.

The provider and key columns are plain foreign keys by table name: a record outlives the
provider or key it names (set null), and this domain never loads their rows."""

from datetime import date, datetime

from sqlalchemy import (
    Boolean,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from atrium.db import Base, UTCDateTime, utcnow


class UsageRecord(Base):
    """One row per gateway call, successful or not (written in batches)."""

    __tablename__ = "usage_record"
    __table_args__ = (
        Index("ix_usage_record_user_id_created_at", "user_id", "created_at"),
        Index("ix_usage_record_key_id_created_at", "key_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id", ondelete="SET NULL"))
    key_id: Mapped[int | None] = mapped_column(ForeignKey("api_key.id", ondelete="SET NULL"))
    provider_id: Mapped[int | None] = mapped_column(
        ForeignKey("llm_provider.id", ondelete="SET NULL")
    )
    provider: Mapped[str] = mapped_column(String(100), default="")
    provider_type: Mapped[str] = mapped_column(String(32), default="")
    model: Mapped[str] = mapped_column(String(200), default="")
    origin: Mapped[str] = mapped_column(String(32), default="api")
    endpoint: Mapped[str] = mapped_column(String(32), default="chat")
    stream: Mapped[bool] = mapped_column(Boolean, default=False)
    prompt_tokens: Mapped[int] = mapped_column(Integer, default=0)
    completion_tokens: Mapped[int] = mapped_column(Integer, default=0)
    estimated: Mapped[bool] = mapped_column(Boolean, default=False)
    cost_usd: Mapped[float] = mapped_column(Float, default=0.0)
    latency_ms: Mapped[int] = mapped_column(Integer, default=0)
    ttft_ms: Mapped[int | None] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), default="ok")
    status_code: Mapped[int] = mapped_column(Integer, default=200)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)


class UsageDaily(Base):
    """Roll-up of usage_record per day, user, model and provider, upserted from each batch."""

    __tablename__ = "usage_daily"
    __table_args__ = (
        UniqueConstraint("day", "user_id", "model", "provider"),
        Index("ix_usage_daily_user_id_day", "user_id", "day"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    day: Mapped[date] = mapped_column(Date, index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id", ondelete="SET NULL"))
    model: Mapped[str] = mapped_column(String(200))
    provider: Mapped[str] = mapped_column(String(100))
    calls: Mapped[int] = mapped_column(Integer, default=0)
    errors: Mapped[int] = mapped_column(Integer, default=0)
    prompt_tokens: Mapped[int] = mapped_column(Integer, default=0)
    completion_tokens: Mapped[int] = mapped_column(Integer, default=0)
    cost_usd: Mapped[float] = mapped_column(Float, default=0.0)
    latency_ms_sum: Mapped[int] = mapped_column(Integer, default=0)
    last_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ModelPrice(Base):
    """List price per million tokens; provider_type "" applies to any provider."""

    __tablename__ = "model_price"
    __table_args__ = (UniqueConstraint("provider_type", "model"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    provider_type: Mapped[str] = mapped_column(String(32), default="")
    model: Mapped[str] = mapped_column(String(200))
    input_usd_per_mtok: Mapped[float] = mapped_column(Float)
    output_usd_per_mtok: Mapped[float] = mapped_column(Float)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
