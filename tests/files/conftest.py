import pytest
from sqlalchemy import func, select

from atrium.files.tables import StoredFile


@pytest.fixture
def file_state(client, app):
    """(rows, stored objects) across the whole instance: to prove nothing is half-written."""

    def state() -> tuple[int, int]:
        async def rows() -> int:
            async with app.state.db.sessions() as session:
                return int(await session.scalar(select(func.count()).select_from(StoredFile)))

        storage = app.state.storage
        if hasattr(storage, "root"):
            objects = sum(1 for p in storage.root.rglob("*") if p.is_file())
        else:
            listed = storage.client.list_objects_v2(Bucket=storage.bucket)
            uploads = storage.client.list_multipart_uploads(Bucket=storage.bucket)
            objects = listed.get("KeyCount", 0) + len(uploads.get("Uploads", []))
        return client.portal.call(rows), objects

    return state
