"""training: fine-tuning runs (their job is the engine's row) registered datasets and
lab experiments grouping runs;
developers may delete their runs

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-03 19:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import atrium.db

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

GRANTS = [
    {"role_id": role, "resource": "training", "action": "delete"}
    for role in ("developer", "moderator")
]


def upgrade() -> None:
    op.create_table(
        "lab_experiment",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("created_at", atrium.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["app_user.id"],
            name=op.f("fk_lab_experiment_user_id_app_user"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lab_experiment")),
    )
    with op.batch_alter_table("lab_experiment", schema=None) as batch_op:
        batch_op.create_index("ix_lab_experiment_user_id_id", ["user_id", "id"], unique=False)
    op.create_table(
        "training_job",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("base_model", sa.String(length=500), nullable=False),
        sa.Column("base_model_path", sa.Text(), nullable=False),
        sa.Column("dataset", sa.String(length=1000), nullable=False),
        sa.Column("dataset_file_id", sa.Integer(), nullable=True),
        sa.Column("dataset_key", sa.String(length=300), nullable=True),
        sa.Column("dataset_path", sa.Text(), nullable=True),
        sa.Column("dataset_rows", sa.Integer(), nullable=False),
        sa.Column("config", sa.JSON(), nullable=False),
        sa.Column("resource_allocation", sa.JSON(), nullable=False),
        sa.Column("adapter_type", sa.String(length=16), nullable=False),
        sa.Column("lora_config", sa.JSON(), nullable=True),
        sa.Column("metrics", sa.JSON(), nullable=False),
        sa.Column("output_model", sa.String(length=300), nullable=True),
        sa.Column("experiment_id", sa.Integer(), nullable=True),
        sa.Column("job_id", sa.Integer(), nullable=True),
        sa.Column("created_at", atrium.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", atrium.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["dataset_file_id"],
            ["file.id"],
            name=op.f("fk_training_job_dataset_file_id_file"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["experiment_id"],
            ["lab_experiment.id"],
            name=op.f("fk_training_job_experiment_id_lab_experiment"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["app_user.id"],
            name=op.f("fk_training_job_user_id_app_user"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_training_job")),
    )
    with op.batch_alter_table("training_job", schema=None) as batch_op:
        batch_op.create_index("ix_training_job_user_id_id", ["user_id", "id"], unique=False)
    op.create_table(
        "training_dataset",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("file_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("format", sa.String(length=32), nullable=False),
        sa.Column("row_count", sa.Integer(), nullable=False),
        sa.Column("size_bytes", sa.Integer(), nullable=False),
        sa.Column("created_at", atrium.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["file_id"],
            ["file.id"],
            name=op.f("fk_training_dataset_file_id_file"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["app_user.id"],
            name=op.f("fk_training_dataset_user_id_app_user"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_training_dataset")),
    )
    with op.batch_alter_table("training_dataset", schema=None) as batch_op:
        batch_op.create_index("ix_training_dataset_user_id_id", ["user_id", "id"], unique=False)
    # the first migration seeds today's defaults; an older database gains the grant here
    grant = sa.table(
        "role_permission", sa.column("role_id"), sa.column("resource"), sa.column("action")
    )
    bind = op.get_bind()
    for entry in GRANTS:
        exists = bind.execute(
            sa.select(sa.func.count())
            .select_from(grant)
            .where(
                grant.c.role_id == entry["role_id"],
                grant.c.resource == entry["resource"],
                grant.c.action == entry["action"],
            )
        ).scalar()
        role = bind.execute(
            sa.text("SELECT count(*) FROM role WHERE id = :id"), {"id": entry["role_id"]}
        ).scalar()
        if not exists and role:
            op.bulk_insert(grant, [entry])


def downgrade() -> None:
    with op.batch_alter_table("training_dataset", schema=None) as batch_op:
        batch_op.drop_index("ix_training_dataset_user_id_id")
    op.drop_table("training_dataset")
    with op.batch_alter_table("training_job", schema=None) as batch_op:
        batch_op.drop_index("ix_training_job_user_id_id")
    op.drop_table("training_job")
    with op.batch_alter_table("lab_experiment", schema=None) as batch_op:
        batch_op.drop_index("ix_lab_experiment_user_id_id")
    op.drop_table("lab_experiment")
