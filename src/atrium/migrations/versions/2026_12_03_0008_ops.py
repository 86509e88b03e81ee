"""ops: the request audit log (hash chain, roll-ups) and the activity feed

Revision ID: 0008
Revises: 0006
"""

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

import atrium.db

revision: str = "0008"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "activity_event",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("created_at", atrium.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("actor_name", sa.String(length=200), nullable=True),
        sa.Column("type", sa.String(length=16), nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("description", sa.String(length=1000), nullable=False),
        sa.Column("subject_type", sa.String(length=32), nullable=True),
        sa.Column("subject_id", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["app_user.id"],
            name=op.f("fk_activity_event_user_id_app_user"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_activity_event")),
    )
    with op.batch_alter_table("activity_event", schema=None) as batch_op:
        batch_op.create_index("ix_activity_event_user_id_id", ["user_id", "id"], unique=False)
    op.create_table(
        "audit_chain_head",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("last_id", sa.Integer(), nullable=False),
        sa.Column("last_hash", sa.String(length=64), nullable=False),
        sa.Column("anchor_hash", sa.String(length=64), nullable=False),
        sa.Column("updated_at", atrium.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_chain_head")),
    )
    head = sa.table(
        "audit_chain_head",
        sa.column("id", sa.Integer()),
        sa.column("last_id", sa.Integer()),
        sa.column("last_hash", sa.String()),
        sa.column("anchor_hash", sa.String()),
        sa.column("updated_at", atrium.db.UTCDateTime(timezone=True)),
    )
    genesis = "0" * 64
    op.bulk_insert(
        head,
        [
            {
                "id": 1,
                "last_id": 0,
                "last_hash": genesis,
                "anchor_hash": genesis,
                "updated_at": datetime.now(UTC),
            }
        ],
    )
    op.create_table(
        "request_actor_daily",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("actor", sa.String(length=32), nullable=False),
        sa.Column("requests", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_request_actor_daily")),
        sa.UniqueConstraint("day", "actor", name=op.f("uq_request_actor_daily_day_actor")),
    )
    with op.batch_alter_table("request_actor_daily", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_request_actor_daily_day"), ["day"], unique=False)

    op.create_table(
        "request_hourly",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("hour", atrium.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("method", sa.String(length=10), nullable=False),
        sa.Column("route", sa.String(length=300), nullable=False),
        sa.Column("requests", sa.Integer(), nullable=False),
        sa.Column("client_errors", sa.Integer(), nullable=False),
        sa.Column("server_errors", sa.Integer(), nullable=False),
        sa.Column("latency_ms_sum", sa.Float(), nullable=False),
        sa.Column("b00", sa.Integer(), nullable=False),
        sa.Column("b01", sa.Integer(), nullable=False),
        sa.Column("b02", sa.Integer(), nullable=False),
        sa.Column("b03", sa.Integer(), nullable=False),
        sa.Column("b04", sa.Integer(), nullable=False),
        sa.Column("b05", sa.Integer(), nullable=False),
        sa.Column("b06", sa.Integer(), nullable=False),
        sa.Column("b07", sa.Integer(), nullable=False),
        sa.Column("b08", sa.Integer(), nullable=False),
        sa.Column("b09", sa.Integer(), nullable=False),
        sa.Column("b10", sa.Integer(), nullable=False),
        sa.Column("b11", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_request_hourly")),
        sa.UniqueConstraint(
            "hour", "method", "route", name=op.f("uq_request_hourly_hour_method_route")
        ),
    )
    with op.batch_alter_table("request_hourly", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_request_hourly_hour"), ["hour"], unique=False)

    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("created_at", atrium.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("actor", sa.String(length=32), nullable=True),
        sa.Column("key_id", sa.Integer(), nullable=True),
        sa.Column("key_prefix", sa.String(length=32), nullable=True),
        sa.Column("method", sa.String(length=10), nullable=False),
        sa.Column("route", sa.String(length=300), nullable=True),
        sa.Column("path", sa.String(length=2000), nullable=False),
        sa.Column("status", sa.Integer(), nullable=False),
        sa.Column("latency_ms", sa.Float(), nullable=False),
        sa.Column("client", sa.String(length=64), nullable=True),
        sa.Column("user_agent", sa.String(length=500), nullable=True),
        sa.Column("request_id", sa.String(length=128), nullable=True),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["app_user.id"],
            name=op.f("fk_audit_log_user_id_app_user"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
    )
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_audit_log_created_at"), ["created_at"], unique=False)
        batch_op.create_index("ix_audit_log_status_id", ["status", "id"], unique=False)
        batch_op.create_index("ix_audit_log_user_id_id", ["user_id", "id"], unique=False)


def downgrade() -> None:
    op.drop_table("activity_event")
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.drop_index("ix_audit_log_user_id_id")
        batch_op.drop_index("ix_audit_log_status_id")
        batch_op.drop_index(batch_op.f("ix_audit_log_created_at"))

    op.drop_table("audit_log")
    with op.batch_alter_table("request_hourly", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_request_hourly_hour"))

    op.drop_table("request_hourly")
    with op.batch_alter_table("request_actor_daily", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_request_actor_daily_day"))

    op.drop_table("request_actor_daily")
    op.drop_table("audit_chain_head")
