"""HTTP routes are matched through the index as Starlette would match them in order."""

from fastapi import FastAPI
from fastapi.testclient import TestClient

from atrium.app import create_app
from atrium.auth.deps import Public
from tests.conftest import make_settings


def test_index_keeps_starlette_matching(tmp_path, database_template) -> None:
    app: FastAPI = create_app(make_settings(tmp_path, database_template()))
    with TestClient(app) as client:
        # a route added after the app started is served (the index is rebuilt)
        @app.get("/probe/late/{name}", dependencies=[Public])
        async def late(name: str) -> dict:
            return {"name": name}

        assert client.get("/probe/late/x").json() == {"name": "x"}
        assert client.get("/health").status_code == 200
        # a path that matches with another method is 405, as Starlette's partial match
        assert client.delete("/api/v1/auth/me").status_code == 405
        missing = client.get("/api/v1/auth/no-such-path")
        assert missing.status_code == 404 and "request_id" in missing.json()
