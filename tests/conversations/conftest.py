"""Fixtures for the message tests: a fake OpenAI-protocol provider registered by an admin."""

from collections.abc import Iterator

import pytest

from tests.llm.helpers import add_provider
from tests.llm.upstreams import OpenAIUpstream, serve_app

MODELS = ["gpt-4o", "plain-model"]


@pytest.fixture(scope="module")
def upstream() -> Iterator[tuple[OpenAIUpstream, str]]:
    fake = OpenAIUpstream()
    with serve_app(fake.app) as base:
        yield fake, base


@pytest.fixture(scope="module")
def provider(client, upstream) -> dict:
    from tests.conftest import access_token_for

    app = client.app

    async def make_admin() -> int:
        from atrium.users import service as users_service

        async with app.state.db.sessions() as session:
            user = await users_service.create_user(
                session,
                email="ws-admin@example.com",
                username="ws_admin",
                password="Pw-admin-12345",
                role="admin",
            )
            await session.commit()
            return user.id

    admin_id = client.portal.call(make_admin)
    headers = {"Authorization": f"Bearer {access_token_for(app, admin_id, 'admin')}"}
    created = add_provider(client, headers, upstream[1], name="fake", type="openai", models=MODELS)
    return {"headers": headers, "provider": created}


@pytest.fixture
def fake(upstream, provider) -> OpenAIUpstream:
    upstream[0].reset()
    return upstream[0]
