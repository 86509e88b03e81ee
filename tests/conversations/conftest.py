"""Fixtures for the message tests: a fake OpenAI-protocol provider registered by an admin."""

from collections.abc import Iterator

import pytest

from tests.gateway.helpers import add_provider
from tests.gateway.upstreams import OpenAIUpstream, serve_app

MODELS = ["gpt-4o", "plain-model"]


@pytest.fixture(scope="module")
def upstream() -> Iterator[tuple[OpenAIUpstream, str]]:
    fake = OpenAIUpstream()
    with serve_app(fake.app) as base:
        yield fake, base


@pytest.fixture(scope="module")
def provider(client, upstream, module_admin) -> dict:
    headers = module_admin.headers
    created = add_provider(client, headers, upstream[1], name="fake", type="openai", models=MODELS)
    return {"headers": headers, "provider": created}


@pytest.fixture
def fake(upstream, provider) -> OpenAIUpstream:
    upstream[0].reset()
    return upstream[0]
