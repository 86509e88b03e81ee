"""Concurrent writers through HTTP: many requests updating one conversation's message count at
once, and many creates at once, all succeed and none is lost (each request is its own
transaction; on SQLite they queue for the write lock instead of failing "database is
locked")."""

import asyncio

import httpx

WRITERS = 16
PER_WRITER = 5


def concurrently(run, app, calls):
    """Send the requests built by `calls` all at once on the app's own event loop."""

    async def send() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            return await asyncio.gather(*(call(http) for call in calls))

    return run(send)


def test_concurrent_messages_on_one_conversation_are_all_counted(client, app, run, create_user):
    user = create_user()
    created = client.post(
        "/vault/conversations", json={"title": "Busy", "model_id": "m"}, headers=user.headers
    )
    assert created.status_code == 201
    path = f"/vault/conversations/{created.json()['id']}/messages"

    def post(writer: int):
        async def send_all(http: httpx.AsyncClient) -> list[int]:
            statuses = []
            for n in range(PER_WRITER):
                body = {"role": "user", "content": f"writer {writer} message {n}"}
                answer = await http.post(path, json=body, headers=user.headers)
                statuses.append(answer.status_code)
            return statuses

        return send_all

    statuses = concurrently(run, app, [post(writer) for writer in range(WRITERS)])
    assert [status for batch in statuses for status in batch] == [201] * WRITERS * PER_WRITER

    conversation = client.get(
        f"/api/v1/conversations/{created.json()['id']}", headers=user.headers
    ).json()
    listed = client.get(
        f"/api/v1/conversations/{created.json()['id']}/messages", headers=user.headers
    ).json()
    expected = {f"writer {w} message {n}" for w in range(WRITERS) for n in range(PER_WRITER)}
    assert sorted(message["content"] for message in listed) == sorted(expected)
    assert conversation["messageCount"] == WRITERS * PER_WRITER


def test_concurrent_creates_all_succeed_and_all_are_kept(client, app, run, create_user):
    user = create_user()

    def create(n: int):
        async def send(http: httpx.AsyncClient) -> httpx.Response:
            body = {"title": f"Concurrent {n}"}
            return await http.post("/api/v1/conversations", json=body, headers=user.headers)

        return send

    answers = concurrently(run, app, [create(n) for n in range(WRITERS * 2)])
    assert [answer.status_code for answer in answers] == [201] * WRITERS * 2
    ids = {answer.json()["id"] for answer in answers}
    listed = client.get("/api/v1/conversations?limit=100", headers=user.headers).json()
    assert {item["id"] for item in listed} == ids
    assert len(ids) == WRITERS * 2
