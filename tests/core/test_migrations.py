"""Alembic is the only way the schema is made: the migrated database equals the ORM metadata."""

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from fastapi import FastAPI
from fastapi.testclient import TestClient

from atrium.migrate import head_revision, include_object
from atrium.models import Base


def _diff(connection) -> list:
    context = MigrationContext.configure(
        connection, opts={"compare_type": True, "include_object": include_object}
    )
    return compare_metadata(context, Base.metadata)


def test_migrations_produce_exactly_the_orm_metadata(client: TestClient, app: FastAPI) -> None:
    async def diff() -> list:
        async with app.state.db.engine.connect() as connection:
            return await connection.run_sync(_diff)

    assert client.portal.call(diff) == []


def test_database_is_at_the_single_head(client: TestClient, app: FastAPI) -> None:
    from sqlalchemy import text

    async def version() -> str:
        async with app.state.db.engine.connect() as connection:
            return await connection.scalar(text("SELECT version_num FROM alembic_version"))

    assert client.portal.call(version) == head_revision()
