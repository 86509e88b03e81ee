"""Posting a chat message (seed 004) with an upstream that answers at once: the user message
is stored, the history built, the gateway called and the reply stored, per request.
Target (issue 5): at least 200 messages/s."""

from bench.context import BenchContext, ensure_success
from bench.registry import Target, scenario
from bench.scenarios.gateway_upstream import MODEL, upstream_for


@scenario(
    "workspace_message",
    description="POST /api/v1/conversations/{id}/messages, immediate upstream (target >= 200/s)",
    connections=20,
)
async def setup(ctx: BenchContext) -> Target:
    _upstream, headers = await upstream_for(ctx)
    created = await ctx.client.post(
        "/api/v1/conversations", json={"title": "Bench chat", "model": MODEL}, headers=headers
    )
    ensure_success(created, "creating a conversation")
    path = f"/api/v1/conversations/{created.json()['id']}/messages"
    body = {"content": "Say hello.", "internet_enabled": False, "files": []}
    probe = await ctx.client.post(path, json=body, headers=headers)
    ensure_success(probe, "posting a message")
    return Target(path, "POST", headers=headers, json=body)
