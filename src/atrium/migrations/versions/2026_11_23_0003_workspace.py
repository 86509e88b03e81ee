"""workspace: tables of the chat workspace (projects, conversations, messages, files)

Revision ID: 0003
Revises: 0002
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import atrium.db

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Message full-text search, made by hand (migrate.include_object keeps `*_fts*` out of
# autogenerate): an external-content FTS5 table kept by triggers on SQLite, a GIN index on
# to_tsvector('simple', content) on PostgreSQL. 'simple' on both: no stemming, any language.
SQLITE_FTS = (
    "CREATE VIRTUAL TABLE message_fts USING fts5(content, content='message', content_rowid='id')",
    "CREATE TRIGGER message_fts_ai AFTER INSERT ON message BEGIN "
    "INSERT INTO message_fts(rowid, content) VALUES (new.id, new.content); END",
    "CREATE TRIGGER message_fts_ad AFTER DELETE ON message BEGIN "
    "INSERT INTO message_fts(message_fts, rowid, content) VALUES ('delete', old.id, old.content);"
    " END",
    "CREATE TRIGGER message_fts_au AFTER UPDATE OF content ON message BEGIN "
    "INSERT INTO message_fts(message_fts, rowid, content) VALUES ('delete', old.id, old.content);"
    " INSERT INTO message_fts(rowid, content) VALUES (new.id, new.content); END",
)
POSTGRES_FTS = (
    "CREATE INDEX ix_message_content_fts ON message USING gin (to_tsvector('simple', content))",
)


def _utc() -> atrium.db.UTCDateTime:
    return atrium.db.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "file",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("filename", sa.String(length=255), nullable=False),
        sa.Column("mime_type", sa.String(length=200), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("storage_key", sa.String(length=300), nullable=False),
        sa.Column("created_at", _utc(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["app_user.id"], name=op.f("fk_file_user_id_app_user"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_file")),
        sa.UniqueConstraint("storage_key", name=op.f("uq_file_storage_key")),
    )
    op.create_index("ix_file_user_id_id", "file", ["user_id", "id"], unique=False)

    op.create_table(
        "project",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("color", sa.String(length=32), nullable=True),
        sa.Column("created_at", _utc(), nullable=False),
        sa.Column("updated_at", _utc(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["app_user.id"],
            name=op.f("fk_project_user_id_app_user"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_project")),
    )
    op.create_index(
        "ix_project_user_id_created_at", "project", ["user_id", "created_at"], unique=False
    )

    op.create_table(
        "conversation",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=True),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("model_id", sa.String(length=300), nullable=True),
        sa.Column("message_count", sa.Integer(), nullable=False),
        sa.Column("created_at", _utc(), nullable=False),
        sa.Column("updated_at", _utc(), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["project.id"],
            name=op.f("fk_conversation_project_id_project"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["app_user.id"],
            name=op.f("fk_conversation_user_id_app_user"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_conversation")),
    )
    op.create_index(
        op.f("ix_conversation_project_id"), "conversation", ["project_id"], unique=False
    )
    op.create_index(
        "ix_conversation_user_id_updated_at",
        "conversation",
        ["user_id", "updated_at", "id"],
        unique=False,
    )

    op.create_table(
        "message",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("conversation_id", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("model", sa.String(length=300), nullable=True),
        sa.Column("thinking_content", sa.Text(), nullable=True),
        sa.Column("thinking_duration_ms", sa.Integer(), nullable=True),
        sa.Column("incomplete", sa.Boolean(), nullable=False),
        sa.Column("meta", sa.JSON(), nullable=True),
        sa.Column("created_at", _utc(), nullable=False),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversation.id"],
            name=op.f("fk_message_conversation_id_conversation"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_message")),
    )
    op.create_index(
        "ix_message_conversation_id_id", "message", ["conversation_id", "id"], unique=False
    )

    op.create_table(
        "message_file",
        sa.Column("message_id", sa.Integer(), nullable=False),
        sa.Column("file_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["file_id"], ["file.id"], name=op.f("fk_message_file_file_id_file"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["message_id"],
            ["message.id"],
            name=op.f("fk_message_file_message_id_message"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("message_id", "file_id", name=op.f("pk_message_file")),
    )
    op.create_index(op.f("ix_message_file_file_id"), "message_file", ["file_id"], unique=False)

    dialect = op.get_bind().dialect.name
    for statement in SQLITE_FTS if dialect == "sqlite" else POSTGRES_FTS:
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for trigger in ("message_fts_au", "message_fts_ad", "message_fts_ai"):
            op.execute(f"DROP TRIGGER IF EXISTS {trigger}")
        op.execute("DROP TABLE IF EXISTS message_fts")
    else:
        op.execute("DROP INDEX IF EXISTS ix_message_content_fts")
    op.drop_index(op.f("ix_message_file_file_id"), table_name="message_file")
    op.drop_table("message_file")
    op.drop_index("ix_message_conversation_id_id", table_name="message")
    op.drop_table("message")
    op.drop_index("ix_conversation_user_id_updated_at", table_name="conversation")
    op.drop_index(op.f("ix_conversation_project_id"), table_name="conversation")
    op.drop_table("conversation")
    op.drop_index("ix_project_user_id_created_at", table_name="project")
    op.drop_table("project")
    op.drop_index("ix_file_user_id_id", table_name="file")
    op.drop_table("file")
