"""The request audit log: one hash-chained row per HTTP request, and its roll-ups."""

from datetime import date, datetime

from sqlalchemy import Date, Float, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from atrium.db import Base, UTCDateTime, utcnow

# Upper bounds (ms) of the latency histogram kept in the hourly roll-up; the last is open.
# They include Vault's bucket edges (100, 500, 1000, 2000, 5000 ms).
LATENCY_BOUNDS_MS = (5, 10, 25, 50, 100, 250, 500, 1000, 2000, 5000, 10000)
BUCKETS = tuple(f"b{index:02d}" for index in range(len(LATENCY_BOUNDS_MS) + 1))


class AuditLogEntry(Base):
    """One request. `prev_hash`/`hash` chain every row to the one before it (by id)."""

    __tablename__ = "audit_log"
    __table_args__ = (
        Index("ix_audit_log_user_id_id", "user_id", "id"),
        Index("ix_audit_log_status_id", "status", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    # set null when the user is deleted; the chain covers `actor`, never `user_id`
    user_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id", ondelete="SET NULL"))
    actor: Mapped[str | None] = mapped_column(String(32))
    key_id: Mapped[int | None] = mapped_column(Integer)
    key_prefix: Mapped[str | None] = mapped_column(String(32))
    method: Mapped[str] = mapped_column(String(10))
    route: Mapped[str | None] = mapped_column(String(300))
    path: Mapped[str] = mapped_column(String(2000))
    status: Mapped[int] = mapped_column(Integer)
    latency_ms: Mapped[float] = mapped_column(Float)
    client: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(500))
    request_id: Mapped[str | None] = mapped_column(String(128))
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class AuditChainHead(Base):
    """The single row that writers lock to append: the last row's id and hash, and the hash
    the oldest retained row must point to (after retention removed older rows)."""

    __tablename__ = "audit_chain_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    last_id: Mapped[int] = mapped_column(Integer, default=0)
    last_hash: Mapped[str] = mapped_column(String(64))
    anchor_hash: Mapped[str] = mapped_column(String(64))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class RequestHourly(Base):
    """Requests per hour, method and route template, with a latency histogram."""

    __tablename__ = "request_hourly"
    __table_args__ = (UniqueConstraint("hour", "method", "route"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    hour: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    method: Mapped[str] = mapped_column(String(10))
    route: Mapped[str] = mapped_column(String(300))
    requests: Mapped[int] = mapped_column(Integer, default=0)
    client_errors: Mapped[int] = mapped_column(Integer, default=0)
    server_errors: Mapped[int] = mapped_column(Integer, default=0)
    latency_ms_sum: Mapped[float] = mapped_column(Float, default=0.0)
    b00: Mapped[int] = mapped_column(Integer, default=0)
    b01: Mapped[int] = mapped_column(Integer, default=0)
    b02: Mapped[int] = mapped_column(Integer, default=0)
    b03: Mapped[int] = mapped_column(Integer, default=0)
    b04: Mapped[int] = mapped_column(Integer, default=0)
    b05: Mapped[int] = mapped_column(Integer, default=0)
    b06: Mapped[int] = mapped_column(Integer, default=0)
    b07: Mapped[int] = mapped_column(Integer, default=0)
    b08: Mapped[int] = mapped_column(Integer, default=0)
    b09: Mapped[int] = mapped_column(Integer, default=0)
    b10: Mapped[int] = mapped_column(Integer, default=0)
    b11: Mapped[int] = mapped_column(Integer, default=0)


class RequestActorDaily(Base):
    """Requests per day and actor pseudonym: counts active users without a user id."""

    __tablename__ = "request_actor_daily"
    __table_args__ = (UniqueConstraint("day", "actor"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    day: Mapped[date] = mapped_column(Date, index=True)
    actor: Mapped[str] = mapped_column(String(32))
    requests: Mapped[int] = mapped_column(Integer, default=0)
