"""The cached first page of `GET /api/v1/conversations` : every kind of write that
changes a summary shows in the next list, on both surfaces; two processes sharing a database
and Redis see each other's writes; a write during a page's query never leaves it stale."""

import asyncio
import json

import httpx
from fastapi.testclient import TestClient

from atrium.app import create_app
from atrium.conversations.listing_cache import ListingCache
from tests import services
from tests.conversations.asgi import json_post_scope

CONVERSATIONS = "/api/v1/conversations"
VAULT = "/vault/conversations"


def listing(client, headers, **params):
    response = client.get(CONVERSATIONS, params={"limit": 20, **params}, headers=headers)
    assert response.status_code == 200, response.text
    return {item["id"]: item for item in response.json()}


def create(client, headers, **body):
    response = client.post(CONVERSATIONS, json=body, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()


def project(client, headers, name="Work"):
    response = client.post("/api/v1/projects", json={"name": name}, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()


def test_create_rename_move_model_and_delete_show_at_once(client, create_user):
    owner = create_user()
    assert listing(client, owner.headers) == {}
    first = create(client, owner.headers, title="First")
    assert listing(client, owner.headers)[first["id"]]["title"] == "First"
    path = f"{CONVERSATIONS}/{first['id']}"
    assert client.patch(path, json={"title": "Renamed"}, headers=owner.headers).status_code == 200
    assert listing(client, owner.headers)[first["id"]]["title"] == "Renamed"
    assert client.patch(path, json={"model": "gpt-4o"}, headers=owner.headers).status_code == 200
    assert listing(client, owner.headers)[first["id"]]["model"] == "gpt-4o"
    work = project(client, owner.headers)
    assert listing(client, owner.headers, project_id=work["id"]) == {}
    moved = client.patch(path, json={"project_id": work["id"]}, headers=owner.headers)
    assert moved.status_code == 200
    assert listing(client, owner.headers)[first["id"]]["project_id"] == work["id"]
    assert list(listing(client, owner.headers, project_id=work["id"])) == [first["id"]]
    client.patch(path, json={"project_id": None}, headers=owner.headers)
    assert listing(client, owner.headers, project_id=work["id"]) == {}
    assert client.delete(path, headers=owner.headers).status_code == 200
    assert listing(client, owner.headers) == {}


def test_unlimited_first_page_is_kept_fresh_too(client, create_user):
    owner = create_user()
    assert client.get(CONVERSATIONS, headers=owner.headers).json() == []
    created = create(client, owner.headers, title="Unlimited")
    assert [c["id"] for c in client.get(CONVERSATIONS, headers=owner.headers).json()] == [
        created["id"]
    ]


def test_generated_messages_update_count_title_and_order(client, create_user, fake):
    owner = create_user()
    older = create(client, owner.headers)
    newer = create(client, owner.headers, title="Newer")
    assert list(listing(client, owner.headers)) == [newer["id"], older["id"]]
    response = client.post(
        f"{CONVERSATIONS}/{older['id']}/messages",
        json={"content": "What is Atrium?"},
        headers=owner.headers,
    )
    assert response.status_code == 200, response.text
    page = listing(client, owner.headers)
    assert list(page) == [older["id"], newer["id"]]
    assert page[older["id"]]["messageCount"] == 2
    assert page[older["id"]]["title"] == "What is Atrium?"


def test_streamed_reply_stored_after_the_stream_updates_the_list(client, app, create_user, fake):
    owner = create_user()
    conversation = create(client, owner.headers)
    gate = fake.hold_after_first_chunk()
    body = json.dumps({"content": "Stream it", "stream": True}).encode()
    path = f"{CONVERSATIONS}/{conversation['id']}/messages"
    counts = []

    async def scenario():
        first_delta = asyncio.Event()
        sent = False

        async def receive():
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            await asyncio.Event().wait()  # the client stays

        async def send(message):
            if b"event: delta" in message.get("body", b""):
                first_delta.set()

        scope = json_post_scope(path, owner.headers["Authorization"])
        streaming = asyncio.create_task(app(scope, receive, send))
        await asyncio.wait_for(first_delta.wait(), timeout=10)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as local:

            async def count():
                page = await local.get(CONVERSATIONS, params={"limit": 20}, headers=owner.headers)
                return page.json()[0]["messageCount"]

            counts.append(await count())  # the question, committed before streaming
            gate.set()
            await asyncio.wait_for(streaming, timeout=10)
            counts.append(await count())  # the reply, stored by the stream's own session

    try:
        client.portal.call(scenario)
    finally:
        gate.set()
    assert counts == [1, 2]


def test_vault_writes_show_in_the_seed_004_list(client, create_user):
    owner = create_user()
    assert listing(client, owner.headers) == {}
    created = client.post(VAULT, json={"model_id": "m", "title": "Vault"}, headers=owner.headers)
    ident = created.json()["id"]
    assert listing(client, owner.headers)[ident]["title"] == "Vault"
    renamed = client.put(f"{VAULT}/{ident}", json={"title": "Renamed"}, headers=owner.headers)
    assert renamed.status_code == 200
    assert listing(client, owner.headers)[ident]["title"] == "Renamed"
    stored = client.post(
        f"{VAULT}/{ident}/messages", json={"role": "user", "content": "Hi"}, headers=owner.headers
    )
    assert stored.status_code == 201
    assert listing(client, owner.headers)[ident]["messageCount"] == 1
    assert client.delete(f"{VAULT}/{ident}", headers=owner.headers).status_code == 200
    assert listing(client, owner.headers) == {}


def test_deleting_a_project_removes_its_conversations_from_the_list(client, create_user):
    owner = create_user()
    work = project(client, owner.headers)
    inside = create(client, owner.headers, title="Inside", project_id=work["id"])
    outside = create(client, owner.headers, title="Outside")
    assert set(listing(client, owner.headers)) == {inside["id"], outside["id"]}
    assert list(listing(client, owner.headers, project_id=work["id"])) == [inside["id"]]
    deleted = client.delete(f"/api/v1/projects/{work['id']}", headers=owner.headers)
    assert deleted.status_code == 200
    assert set(listing(client, owner.headers)) == {outside["id"]}
    assert listing(client, owner.headers, project_id=work["id"]) == {}


def test_an_admins_change_to_another_users_conversation_shows_in_theirs(client, create_user, admin):
    owner = create_user()
    conversation = create(client, owner.headers, title="Mine")
    assert listing(client, owner.headers)[conversation["id"]]["title"] == "Mine"
    path = f"{CONVERSATIONS}/{conversation['id']}"
    assert client.patch(path, json={"title": "Moderated"}, headers=admin.headers).status_code == 200
    assert listing(client, owner.headers)[conversation["id"]]["title"] == "Moderated"
    assert client.delete(path, headers=admin.headers).status_code == 200
    assert listing(client, owner.headers) == {}


def test_pages_are_per_user_and_cursor_and_search_are_not_cached(client, create_user):
    owner, other = create_user(), create_user()
    for n in range(3):
        create(client, owner.headers, title=f"Chat {n}")
    assert listing(client, other.headers) == {}
    first = client.get(CONVERSATIONS, params={"limit": 2}, headers=owner.headers)
    assert len(first.json()) == 2 and first.headers["X-Next-Cursor"]
    again = client.get(CONVERSATIONS, params={"limit": 2}, headers=owner.headers)
    assert again.json() == first.json()
    assert again.headers["X-Next-Cursor"] == first.headers["X-Next-Cursor"]
    rest = client.get(
        CONVERSATIONS,
        params={"limit": 2, "cursor": first.headers["X-Next-Cursor"]},
        headers=owner.headers,
    )
    assert [c["title"] for c in rest.json()] == ["Chat 0"]
    found = client.get(CONVERSATIONS, params={"q": "Chat 1"}, headers=owner.headers)
    assert [c["title"] for c in found.json()] == ["Chat 1"]


def test_a_write_during_the_query_leaves_no_stale_page():
    cache = ListingCache()

    async def scenario():
        async def build_while_a_write_commits():
            await cache.bump({7})  # committed while the page was being read
            return b"[old]", None

        async def build_fresh():
            return b"[new]", None

        key = (7, None, None, 20)
        assert await cache.page(7, key, 20, build_while_a_write_commits) == (b"[old]", None)
        assert await cache.page(7, key, 20, build_fresh) == (b"[new]", None)
        assert await cache.page(7, key, 20, build_while_a_write_commits) == (b"[new]", None)

    asyncio.run(scenario())


def test_two_processes_sharing_redis_see_each_others_writes(app, create_user):
    url = services.redis_server()
    if url is None:
        services.unavailable("Redis")
    settings = app.state.settings.model_copy(update={"redis_url": url})
    owner = create_user()
    with (
        TestClient(create_app(settings)) as one,
        TestClient(create_app(settings)) as two,
    ):
        assert listing(one, owner.headers) == {} and listing(two, owner.headers) == {}
        created = create(one, owner.headers, title="From one")
        assert listing(two, owner.headers)[created["id"]]["title"] == "From one"
        path = f"{CONVERSATIONS}/{created['id']}"
        assert two.patch(path, json={"title": "From two"}, headers=owner.headers).status_code == 200
        assert listing(one, owner.headers)[created["id"]]["title"] == "From two"
        assert one.delete(path, headers=owner.headers).status_code == 200
        assert listing(two, owner.headers) == {}
