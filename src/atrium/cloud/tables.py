"""Cloud tables: accounts, discovery runs, the discovered inventory, costs, findings and
governance (policies and remediations). Everything below an account goes with it."""

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from atrium.db import Base, UTCDateTime, utcnow


class CloudAccount(Base):
    __tablename__ = "cloud_account"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("app_user.id", ondelete="CASCADE"), index=True)
    account_name: Mapped[str | None] = mapped_column(String(200))
    # one tenant per AWS account: unique once connected
    aws_account_id: Mapped[str | None] = mapped_column(String(12), unique=True)
    external_id: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(20), default="pending_setup")
    connection_method: Mapped[str | None] = mapped_column(String(20))
    role_arn: Mapped[str | None] = mapped_column(String(300))
    access_key_id: Mapped[str | None] = mapped_column(String(128))
    secret_encrypted: Mapped[bytes | None] = mapped_column(LargeBinary)
    region: Mapped[str] = mapped_column(String(32), default="us-east-1")
    regions: Mapped[list[str] | None] = mapped_column(JSON)
    verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    discovery_status: Mapped[str] = mapped_column(String(20), default="not_started")
    last_discovery_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class DiscoveryRun(Base):
    __tablename__ = "cloud_discovery_run"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(
        ForeignKey("cloud_account.id", ondelete="CASCADE"), index=True
    )
    job_id: Mapped[int | None] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(20), default="in_progress")
    progress: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    counts: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    errors: Mapped[list[Any]] = mapped_column(JSON, default=list)
    totals: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    error: Mapped[str | None] = mapped_column(Text)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class CloudResource(Base):
    """One discovered resource: instance, volume, address, snapshot, bucket or EKS cluster."""

    __tablename__ = "cloud_resource"
    # covering the dashboard's totals by kind and state: answered from the index alone
    __table_args__ = (
        Index(
            "ix_cloud_resource_account_id_kind",
            "account_id",
            "kind",
            "state",
            "monthly_cost",
            "size_gb",
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("cloud_account.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(20))
    resource_id: Mapped[str] = mapped_column(String(300))
    region: Mapped[str] = mapped_column(String(32))
    state: Mapped[str | None] = mapped_column(String(32))
    size_gb: Mapped[float | None] = mapped_column(Float)
    monthly_cost: Mapped[float | None] = mapped_column(Float)
    attributes: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class CloudCost(Base):
    """Cost Explorer's amount for one day and one service or region."""

    __tablename__ = "cloud_cost"
    __table_args__ = (
        Index("ix_cloud_cost_account_id_dimension_day", "account_id", "dimension", "day"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("cloud_account.id", ondelete="CASCADE"))
    dimension: Mapped[str] = mapped_column(String(10))  # service | region
    key: Mapped[str] = mapped_column(String(200))
    day: Mapped[str] = mapped_column(String(10))  # YYYY-MM-DD
    amount: Mapped[float] = mapped_column(Float)
    unit: Mapped[str] = mapped_column(String(8), default="USD")


class WasteFinding(Base):
    __tablename__ = "cloud_finding"
    __table_args__ = (UniqueConstraint("account_id", "rule", "resource_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(
        ForeignKey("cloud_account.id", ondelete="CASCADE"), index=True
    )
    resource_id: Mapped[str] = mapped_column(String(300))
    resource_type: Mapped[str] = mapped_column(String(20))
    region: Mapped[str] = mapped_column(String(32))
    rule: Mapped[str] = mapped_column(String(40))
    evidence: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    estimated_monthly_savings: Mapped[float | None] = mapped_column(Float)
    status: Mapped[str] = mapped_column(String(16), default="open")  # open|dismissed|remediated
    dismissed_reason: Mapped[str | None] = mapped_column(Text)
    dismissed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class GovernancePolicy(Base):
    """Whether a remediation action needs approval, and by which role, for an owner's
    accounts (all of them, or one)."""

    __tablename__ = "cloud_policy"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("app_user.id", ondelete="CASCADE"), index=True)
    account_id: Mapped[int | None] = mapped_column(
        ForeignKey("cloud_account.id", ondelete="CASCADE")
    )
    name: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(32))
    requires_approval: Mapped[bool] = mapped_column(Boolean, default=True)
    approver_role: Mapped[str | None] = mapped_column(String(64))
    tag_key: Mapped[str | None] = mapped_column(String(128))
    tag_value: Mapped[str | None] = mapped_column(String(256))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class Remediation(Base):
    """A requested change to AWS; an approval request while `pending_approval`."""

    __tablename__ = "cloud_remediation"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(
        ForeignKey("cloud_account.id", ondelete="CASCADE"), index=True
    )
    requested_by: Mapped[int | None] = mapped_column(ForeignKey("app_user.id", ondelete="SET NULL"))
    finding_id: Mapped[int | None] = mapped_column(
        ForeignKey("cloud_finding.id", ondelete="SET NULL")
    )
    policy_id: Mapped[int | None] = mapped_column(
        ForeignKey("cloud_policy.id", ondelete="SET NULL")
    )
    action: Mapped[str] = mapped_column(String(32))
    resource_id: Mapped[str] = mapped_column(String(300))
    region: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(20))
    approver_role: Mapped[str | None] = mapped_column(String(64))
    decided_by: Mapped[int | None] = mapped_column(ForeignKey("app_user.id", ondelete="SET NULL"))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    comment: Mapped[str | None] = mapped_column(Text)
    error: Mapped[str | None] = mapped_column(Text)
    executed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Pipeline(Base):
    """A named chain of steps (discovery, waste analysis, report) over one account, run on
    demand or on its own schedule (`next_run_at` is when it is next due)."""

    __tablename__ = "cloud_pipeline"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("app_user.id", ondelete="CASCADE"), index=True)
    account_id: Mapped[int] = mapped_column(
        ForeignKey("cloud_account.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(200))
    steps: Mapped[list[str]] = mapped_column(JSON)
    schedule_every_seconds: Mapped[int | None] = mapped_column(Integer)
    schedule_cron: Mapped[str | None] = mapped_column(String(100))
    next_run_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class PipelineRun(Base):
    """One run of a pipeline: each step's status, job and result; the report it produced."""

    __tablename__ = "cloud_pipeline_run"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    pipeline_id: Mapped[int] = mapped_column(
        ForeignKey("cloud_pipeline.id", ondelete="CASCADE"), index=True
    )
    account_id: Mapped[int] = mapped_column(ForeignKey("cloud_account.id", ondelete="CASCADE"))
    trigger: Mapped[str] = mapped_column(String(16))  # manual | schedule
    status: Mapped[str] = mapped_column(String(16))  # running | completed | failed
    steps: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    error: Mapped[str | None] = mapped_column(Text)
    report: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class CloudEvent(Base):
    """What `/ws/client` streams to an account's owner, written with the change it reports
    (the bus only wakes the socket, which reads rows after the last one it sent)."""

    __tablename__ = "cloud_event"
    __table_args__ = (Index("ix_cloud_event_user_id_id", "user_id", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("app_user.id", ondelete="CASCADE"))
    account_id: Mapped[int | None] = mapped_column(
        ForeignKey("cloud_account.id", ondelete="CASCADE")
    )
    type: Mapped[str] = mapped_column(String(40))
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
