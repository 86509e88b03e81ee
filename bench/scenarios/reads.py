"""Uncached detail reads and short lists beside the conversation lists (`lists.py`), each over
the same admin and 10,000 conversations: a conversation with its 10 messages, its messages
alone, a project with 5 conversations, a file's metadata, the users list and the keys list
as admin (pages of 20). `python -m bench --only read` runs them all."""

from bench.context import BenchContext, ensure_success
from bench.errors import ScenarioFailed
from bench.registry import Scenario, Target, json_check, register
from bench.scenarios.list_page1 import page_of, seeded_admin

PAGE = "/api/v1/conversations?limit=20"
USERS = 25
KEYS = 20


def detail(field: str):
    """A check: the body is a JSON object with an id and `field`."""

    def test(document) -> str | None:
        if not isinstance(document, dict) or "id" not in document or field not in document:
            return f"expected an object with id and {field}, got {str(document)[:80]}"
        return None

    return json_check(test)


async def _a_conversation(ctx: BenchContext) -> tuple[dict[str, str], str]:
    headers = await seeded_admin(ctx)
    first = await ctx.client.get(PAGE, headers=headers)
    ensure_success(first, "listing the first page")
    seeded = [c for c in first.json() if c["messageCount"] == 10]
    if not seeded:
        raise ScenarioFailed("no seeded conversation with 10 messages on the first page")
    return headers, seeded[0]["id"]


async def conversation(ctx: BenchContext) -> Target:
    headers, ident = await _a_conversation(ctx)
    return Target(f"/api/v1/conversations/{ident}", headers=headers, check=detail("messages"))


async def messages(ctx: BenchContext) -> Target:
    headers, ident = await _a_conversation(ctx)
    return Target(f"/api/v1/conversations/{ident}/messages", headers=headers, check=page_of(10))


async def project(ctx: BenchContext) -> Target:
    headers = await seeded_admin(ctx)
    made = await ctx.client.post("/api/v1/projects", json={"name": "Bench"}, headers=headers)
    ensure_success(made, "creating a project")
    ident = made.json()["id"]
    for n in range(5):
        response = await ctx.client.post(
            "/api/v1/conversations",
            json={"title": f"In the project {n}", "project_id": ident},
            headers=headers,
        )
        ensure_success(response, "creating a conversation in the project")
    return Target(f"/api/v1/projects/{ident}", headers=headers, check=detail("conversations"))


async def file(ctx: BenchContext) -> Target:
    headers = await seeded_admin(ctx)
    uploaded = await ctx.client.post(
        "/api/v1/upload", files={"file": ("notes.txt", b"bench notes\n")}, headers=headers
    )
    ensure_success(uploaded, "uploading a file")
    return Target(
        f"/api/v1/files/{uploaded.json()['id']}", headers=headers, check=detail("file_path")
    )


async def users(ctx: BenchContext) -> Target:
    headers = await seeded_admin(ctx)
    listed = await ctx.client.get("/api/v1/admin/users?limit=1000", headers=headers)
    ensure_success(listed, "listing users")
    for n in range(len(listed.json()), USERS):
        response = await ctx.client.post(
            "/vault/admin/users",
            json={"name": f"Bench user {n}", "email": f"bench-user-{n}@example.com"},
            headers=headers,
        )
        ensure_success(response, "creating a user")
    return Target("/api/v1/admin/users?limit=20", headers=headers, check=page_of(20))


async def keys(ctx: BenchContext) -> Target:
    headers = await seeded_admin(ctx)
    listed = await ctx.client.get("/api/v1/tokens?limit=1000", headers=headers)
    ensure_success(listed, "listing keys")
    for n in range(len(listed.json()), KEYS + 1):
        response = await ctx.client.post(
            "/api/v1/tokens", json={"name": f"bench key {n}"}, headers=headers
        )
        ensure_success(response, "creating a key")
    return Target("/api/v1/tokens?limit=20", headers=headers, check=page_of(20))


VARIANTS = (
    ("read_conversation", conversation, "GET a conversation with its 10 messages"),
    ("read_messages", messages, "GET a conversation's 10 messages"),
    ("read_project", project, "GET a project with its 5 conversations"),
    ("read_file", file, "GET a file's metadata (a freshly signed link)"),
    ("read_users", users, "GET /api/v1/admin/users?limit=20 as admin"),
    ("read_keys", keys, "GET /api/v1/tokens?limit=20 (the caller's keys)"),
)
for name, setup, description in VARIANTS:
    register(Scenario(name, setup, description, connections=50))
