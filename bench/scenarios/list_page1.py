"""Listing conversations (a page of 20) with 10,000 conversations and 100,000 messages in the
database: the first page, which the list cache serves while nothing changes. Target: at least
30 % of the paired hello-world's requests/s. The uncached pages are in `lists.py`.

The rows are inserted straight into the server's database (found from its environment), in
bulk: through the API the seeding alone would take minutes.
"""

import os
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, insert, select

from bench.context import BenchContext, ensure_success
from bench.errors import Skip
from bench.registry import Target, json_check, scenario

CONVERSATIONS = 10_000
MESSAGES_EACH = 10
BATCH = 5_000


def _server_settings(pid: int):  # -> atrium.config.Settings, imported lazily
    from atrium.config import Settings

    with open(f"/proc/{pid}/environ", "rb") as handle:
        pairs = [item.split(b"=", 1) for item in handle.read().split(b"\0") if b"=" in item]
    env = {key.decode(): value.decode() for key, value in pairs}
    atrium_env = {k: v for k, v in env.items() if k.startswith("ATRIUM_")}
    saved = {k: os.environ.pop(k) for k in list(os.environ) if k.startswith("ATRIUM_")}
    os.environ.update(atrium_env)
    try:
        return Settings(_env_file=None)
    finally:
        for key in atrium_env:
            os.environ.pop(key, None)
        os.environ.update(saved)


async def seed(database_url: str, user_id: int) -> None:
    from atrium.conversations.tables import Conversation, Message
    from atrium.db import make_engine

    engine = make_engine(database_url)
    start = datetime.now(UTC) - timedelta(days=30)
    try:
        async with engine.begin() as connection:
            existing = await connection.scalar(
                select(func.count()).where(Conversation.user_id == user_id)
            )
            if existing >= CONVERSATIONS:  # seeded already (other scenarios add a few)
                return
            rows = [
                {
                    "user_id": user_id,
                    "title": f"Bench conversation {n}",
                    "message_count": MESSAGES_EACH,
                    "created_at": start + timedelta(seconds=n),
                    "updated_at": start + timedelta(seconds=n, milliseconds=500),
                }
                for n in range(CONVERSATIONS)
            ]
            for offset in range(0, len(rows), BATCH):
                await connection.execute(insert(Conversation), rows[offset : offset + BATCH])
            ids = list(
                await connection.scalars(
                    select(Conversation.id).where(Conversation.user_id == user_id)
                )
            )
            messages = [
                {
                    "conversation_id": conversation_id,
                    "role": "user" if m % 2 == 0 else "assistant",
                    "content": f"Bench message {m} of conversation {conversation_id}",
                    "incomplete": False,
                    "created_at": start,
                }
                for conversation_id in ids
                for m in range(MESSAGES_EACH)
            ]
            for offset in range(0, len(messages), BATCH):
                await connection.execute(insert(Message), messages[offset : offset + BATCH])
    finally:
        await engine.dispose()


def page_of(size: int):
    """A check: the body is a JSON list of `size` conversations."""

    def test(document) -> str | None:
        if not isinstance(document, list) or len(document) != size:
            return f"expected a list of {size}, got {str(document)[:80]}"
        if not all(isinstance(item, dict) and "id" in item for item in document):
            return "list items without an id"
        return None

    return json_check(test)


async def seeded_admin(ctx: BenchContext) -> dict[str, str]:
    """The admin's headers, after their 10,000 conversations are in the database (once)."""
    admin = ctx.require_admin()
    if ctx.server_pid is None:
        raise Skip("no Atrium server in this run")
    me = await ctx.client.get("/api/v1/auth/me", headers=admin.headers)
    ensure_success(me, "reading the admin's id")
    settings = _server_settings(ctx.server_pid)
    await seed(settings.resolved_database_url, int(me.json()["id"]))
    return admin.headers


@scenario(
    "list_page1",
    description="GET /api/v1/conversations?limit=20 (first page, cached) over 10k "
    "conversations, 100k messages (target >= 30 % of hello)",
    connections=50,
)
async def setup(ctx: BenchContext) -> Target:
    headers = await seeded_admin(ctx)
    probe = await ctx.client.get("/api/v1/conversations?limit=20", headers=headers)
    ensure_success(probe, "listing conversations")
    return Target("/api/v1/conversations?limit=20", headers=headers, check=page_of(20))
