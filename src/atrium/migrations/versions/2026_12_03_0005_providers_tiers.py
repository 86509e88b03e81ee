"""providers and tiers: discovered models and model metadata on providers; tiers as data

Revision ID: 0005
Revises: 0007
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import atrium.db

revision: str = "0005"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

GIB = 1024**3
# name, description, files scanned, LLM tokens, requests, storage bytes (monthly; None: no limit)
SEED_TIERS = (
    ("free", "The default tier", 1_000, 1_000_000, 10_000, 5 * GIB),
    ("professional", "For regular use", 50_000, 20_000_000, 200_000, 100 * GIB),
    ("enterprise", "For organisations", 1_000_000, None, None, 1024 * GIB),
)


def _utc() -> atrium.db.UTCDateTime:
    return atrium.db.UTCDateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("llm_provider") as batch:
        batch.add_column(
            sa.Column("discovered_models", sa.JSON(), nullable=False, server_default="[]")
        )
        batch.add_column(
            sa.Column("discovered_metadata", sa.JSON(), nullable=False, server_default="{}")
        )
        batch.add_column(sa.Column("discovered_at", _utc(), nullable=True))
        batch.add_column(
            sa.Column("model_metadata", sa.JSON(), nullable=False, server_default="{}")
        )
    with op.batch_alter_table("llm_provider") as batch:
        batch.alter_column("discovered_models", server_default=None)
        batch.alter_column("discovered_metadata", server_default=None)
        batch.alter_column("model_metadata", server_default=None)

    tier = op.create_table(
        "tier",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("description", sa.String(length=500), nullable=True),
        sa.Column("files_scanned", sa.BigInteger(), nullable=True),
        sa.Column("llm_tokens", sa.BigInteger(), nullable=True),
        sa.Column("requests", sa.BigInteger(), nullable=True),
        sa.Column("storage_bytes", sa.BigInteger(), nullable=True),
        sa.Column("is_default", sa.Boolean(), nullable=False),
        sa.Column("created_at", _utc(), nullable=False),
        sa.Column("updated_at", _utc(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tier")),
        sa.UniqueConstraint("name", name=op.f("uq_tier_name")),
    )
    op.create_table(
        "user_tier",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("tier_id", sa.Integer(), nullable=False),
        sa.Column("assigned_at", _utc(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tier_id"], ["tier.id"], name=op.f("fk_user_tier_tier_id_tier"), ondelete="RESTRICT"
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["app_user.id"],
            name=op.f("fk_user_tier_user_id_app_user"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_user_tier")),
    )
    op.create_index(op.f("ix_user_tier_tier_id"), "user_tier", ["tier_id"], unique=False)
    now = atrium.db.utcnow()
    op.bulk_insert(
        tier,
        [
            {
                "name": name,
                "description": description,
                "files_scanned": files,
                "llm_tokens": tokens,
                "requests": requests,
                "storage_bytes": storage,
                "is_default": name == "free",
                "created_at": now,
                "updated_at": now,
            }
            for name, description, files, tokens, requests, storage in SEED_TIERS
        ],
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_user_tier_tier_id"), table_name="user_tier")
    op.drop_table("user_tier")
    op.drop_table("tier")
    with op.batch_alter_table("llm_provider") as batch:
        batch.drop_column("model_metadata")
        batch.drop_column("discovered_at")
        batch.drop_column("discovered_metadata")
        batch.drop_column("discovered_models")
