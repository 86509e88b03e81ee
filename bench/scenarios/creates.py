"""Writes with 16 concurrent clients: creating conversations, and storing messages (Vault's
endpoint stores what it is given, so this is the write path without a model call) spread over
16 conversations. The `_stock` variants run the same on aiosqlite."""

from bench.context import BenchContext, ensure_success
from bench.registry import Scenario, Target, json_check, register

CLIENTS = 16


def has_id(document) -> str | None:
    return None if isinstance(document, dict) and document.get("id") else str(document)[:80]


async def conversations(ctx: BenchContext) -> Target:
    headers = ctx.require_admin().headers
    return Target(
        "/api/v1/conversations",
        "POST",
        headers=headers,
        json={"title": "Bench conversation"},
        check=json_check(has_id),
    )


async def messages(ctx: BenchContext) -> Target:
    headers = ctx.require_admin().headers
    targets = []
    for n in range(CLIENTS):
        created = await ctx.client.post(
            "/vault/conversations",
            json={"title": f"Bench chat {n}", "model_id": "bench-model"},
            headers=headers,
        )
        ensure_success(created, "creating a Vault conversation")
        body = {"role": "user", "content": "A message the bench stores as it is."}
        path = f"/vault/conversations/{created.json()['id']}/messages"
        targets.append(Target(path, "POST", headers=headers, json=body))
    first, *others = targets
    return Target(
        first.path, "POST", headers, json=first.json, then=tuple(others), check=json_check(has_id)
    )


VARIANTS = (
    ("create_conversation", conversations, "POST /api/v1/conversations"),
    ("create_message", messages, "POST /vault/conversations/{id}/messages over 16 chats"),
)
for name, setup, description in VARIANTS:
    text = f"{description}, {CLIENTS} clients"
    register(Scenario(name, setup, text, connections=CLIENTS))
    register(
        Scenario(
            f"{name}_stock", setup, f"{text}, on aiosqlite", connections=CLIENTS, server="stock"
        )
    )
