"""The memo on FastAPI's parameter parsing keeps FastAPI's answers (atrium.fastapi_speedups)."""

from typing import Annotated

import fastapi.dependencies.utils as fastapi_dependencies
from fastapi import FastAPI, Query
from fastapi.testclient import TestClient

from atrium import fastapi_speedups


def test_parameters_parse_as_fastapi_parses_them() -> None:
    fastapi_speedups.install()
    assert fastapi_dependencies.field_annotation_is_sequence is (
        fastapi_speedups.field_annotation_is_sequence
    )
    app = FastAPI()

    @app.get("/echo")
    async def echo(
        tag: Annotated[list[str], Query()] = [],  # noqa: B006 - FastAPI copies defaults
        limit: Annotated[int | None, Query(ge=1)] = None,
    ) -> dict[str, object]:
        return {"tag": tag, "limit": limit}

    with TestClient(app) as client:
        for _ in range(2):  # the second answer comes from the memo
            both = client.get("/echo?tag=a&tag=b&limit=3")
            assert both.json() == {"tag": ["a", "b"], "limit": 3}
        assert client.get("/echo").json() == {"tag": [], "limit": None}
        refused = client.get("/echo?limit=0")
        assert refused.status_code == 422
        assert refused.json()["detail"][0]["loc"] == ["query", "limit"]
