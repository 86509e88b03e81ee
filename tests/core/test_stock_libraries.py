"""The bench's comparison switch: `stock_libraries` runs aiosqlite instead of the inline SQLite
driver and httpx's own transport instead of the lean one, and the service works the same."""

from collections.abc import Iterator

import pytest

from tests.conftest import BACKEND
from tests.gateway.helpers import add_provider
from tests.gateway.upstreams import OpenAIUpstream, serve_app


@pytest.fixture(scope="module")
def settings_overrides() -> dict[str, object]:
    return {"stock_libraries": "aiosqlite,httpx"}


@pytest.fixture(scope="module")
def upstream() -> Iterator[tuple[OpenAIUpstream, str]]:
    fake = OpenAIUpstream()
    with serve_app(fake.app) as base:
        yield fake, base


def test_stock_libraries_are_used_and_serve(client, app, upstream, module_admin, create_user):
    from atrium.outbound.http import ProviderTransport

    assert app.state.settings.stock_libraries == ["aiosqlite", "httpx"]
    assert isinstance(app.state.gateway.client._transport, ProviderTransport)
    if BACKEND == "sqlite":
        assert app.state.db.engine.dialect.dbapi.sqlite.__name__ == "sqlite3"
        assert type(app.state.db.engine.dialect.dbapi).__module__.endswith("aiosqlite")
    add_provider(client, module_admin.headers, upstream[1], name="fake", type="openai")
    user = create_user()
    body = {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}
    answer = client.post("/v1/chat/completions", json=body, headers=user.headers)
    assert answer.status_code == 200, answer.text
    assert answer.json()["choices"][0]["message"]["content"] == "Hello there, friend!"
    created = client.post("/api/v1/conversations", json={"title": "t"}, headers=user.headers)
    assert created.status_code == 201
    listed = client.get("/api/v1/conversations", headers=user.headers).json()
    assert [c["id"] for c in listed] == [created.json()["id"]]
