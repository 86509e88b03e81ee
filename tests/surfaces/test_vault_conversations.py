"""Vault's /vault/conversations (CONTRACTS, seed 000): epoch-ms float times, model_id,
message_count, bare lists with limit/offset, messages stored as given."""

import time

import pytest

VAULT = "/vault/conversations"


def create(client, headers, **body):
    response = client.post(VAULT, json={"model_id": "qwen-7b", **body}, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()


def test_create_returns_summary_with_epoch_ms(client, create_user):
    owner = create_user()
    before = time.time() * 1000
    summary = create(client, owner.headers, title="Hello")
    assert set(summary) == {"id", "title", "model_id", "created_at", "updated_at", "message_count"}
    assert isinstance(summary["id"], str)
    assert summary["model_id"] == "qwen-7b" and summary["message_count"] == 0
    assert isinstance(summary["created_at"], float)
    assert before - 5000 < summary["created_at"] < time.time() * 1000 + 5000


def test_create_needs_model_id_and_defaults_title(client, create_user):
    owner = create_user()
    assert client.post(VAULT, json={"title": "x"}, headers=owner.headers).status_code == 422
    assert create(client, owner.headers)["title"] == "New Conversation"


def test_messages_are_stored_as_given_without_generation(client, create_user):
    owner = create_user()
    conversation = create(client, owner.headers, title="Chat")
    path = f"{VAULT}/{conversation['id']}/messages"
    user = client.post(path, json={"role": "user", "content": "Hi"}, headers=owner.headers)
    assert user.status_code == 201
    assert user.json()["role"] == "user" and user.json()["thinking"] is None
    assert isinstance(user.json()["timestamp"], float)
    reply = client.post(
        path,
        json={
            "role": "assistant",
            "content": "Hello!",
            "thinking_content": "greet back",
            "thinking_duration_ms": 120,
        },
        headers=owner.headers,
    )
    assert reply.status_code == 201
    assert reply.json()["thinking"] == {"content": "greet back", "durationMs": 120}
    detail = client.get(f"{VAULT}/{conversation['id']}", headers=owner.headers).json()
    assert set(detail) == {"id", "title", "model_id", "messages", "created_at", "updated_at"}
    assert [(m["role"], m["content"]) for m in detail["messages"]] == [
        ("user", "Hi"),
        ("assistant", "Hello!"),
    ]
    assert detail["messages"][1]["thinking"]["durationMs"] == 120
    listed = client.get(VAULT, headers=owner.headers).json()
    assert listed[0]["message_count"] == 2


def test_bad_message_bodies_are_422(client, create_user):
    owner = create_user()
    conversation = create(client, owner.headers)
    path = f"{VAULT}/{conversation['id']}/messages"
    assert (
        client.post(path, json={"role": "robot", "content": "x"}, headers=owner.headers).status_code
        == 422
    )
    assert (
        client.post(path, json={"role": "user", "content": "  "}, headers=owner.headers).status_code
        == 422
    )
    assert (
        client.get(f"{VAULT}/{conversation['id']}", headers=owner.headers).json()["messages"] == []
    )


def test_list_is_bare_sorted_by_updated_at_desc_with_limit_offset(client, create_user):
    owner = create_user()
    ids = [create(client, owner.headers, title=f"c{n}")["id"] for n in range(4)]
    client.post(
        f"{VAULT}/{ids[1]}/messages",
        json={"role": "user", "content": "bump"},
        headers=owner.headers,
    )
    listed = client.get(VAULT, headers=owner.headers).json()
    assert [c["id"] for c in listed] == [ids[1], ids[3], ids[2], ids[0]]
    assert listed[0]["updated_at"] >= listed[1]["updated_at"]
    page = client.get(VAULT, params={"limit": 2, "offset": 1}, headers=owner.headers).json()
    assert [c["id"] for c in page] == [ids[3], ids[2]]
    assert client.get(VAULT, params={"limit": 500}, headers=owner.headers).status_code == 422


def test_put_renames(client, create_user):
    owner = create_user()
    conversation = create(client, owner.headers, title="Old")
    response = client.put(
        f"{VAULT}/{conversation['id']}", json={"title": "New name"}, headers=owner.headers
    )
    assert response.status_code == 200 and response.json()["title"] == "New name"
    assert (
        client.get(f"{VAULT}/{conversation['id']}", headers=owner.headers).json()["title"]
        == "New name"
    )
    unchanged = client.put(
        f"{VAULT}/{conversation['id']}", json={"title": None}, headers=owner.headers
    )
    assert unchanged.json()["title"] == "New name"


def test_delete(client, create_user):
    owner = create_user()
    conversation = create(client, owner.headers)
    response = client.delete(f"{VAULT}/{conversation['id']}", headers=owner.headers)
    assert response.status_code == 200
    assert response.json() == {"id": conversation["id"], "deleted": True}
    assert client.get(f"{VAULT}/{conversation['id']}", headers=owner.headers).status_code == 404


def test_unknown_conversation_is_404(client, create_user):
    owner = create_user()
    assert client.get(f"{VAULT}/999999", headers=owner.headers).status_code == 404


def test_same_conversations_as_seed_004(client, create_user):
    owner = create_user()
    conversation = create(client, owner.headers, title="Shared")
    seen = client.get(f"/api/v1/conversations/{conversation['id']}", headers=owner.headers)
    assert seen.status_code == 200 and seen.json()["title"] == "Shared"


ROUTES = [
    ("get", VAULT),
    ("post", VAULT),
    ("get", f"{VAULT}/{{id}}"),
    ("put", f"{VAULT}/{{id}}"),
    ("delete", f"{VAULT}/{{id}}"),
    ("post", f"{VAULT}/{{id}}/messages"),
]


@pytest.mark.parametrize(("method", "path"), ROUTES)
def test_every_route_needs_credentials(client, method, path):
    response = client.request(method.upper(), path.format(id=1), json={})
    assert response.status_code == 401


@pytest.mark.parametrize(("method", "path"), [r for r in ROUTES if "{id}" in r[1]])
def test_another_users_conversation_is_404(client, create_user, method, path):
    owner, intruder = create_user(), create_user()
    conversation = create(client, owner.headers, title="Private")
    response = client.request(
        method.upper(),
        path.format(id=conversation["id"]),
        json={"title": "x", "role": "user", "content": "x"},
        headers=intruder.headers,
    )
    assert response.status_code == 404
    assert client.get(VAULT, headers=intruder.headers).json() == []
    still = client.get(f"{VAULT}/{conversation['id']}", headers=owner.headers).json()
    assert still["title"] == "Private" and still["messages"] == []


def test_works_with_an_api_key(client, create_user, api_key):
    owner = create_user()
    key = api_key(owner)
    response = client.post(
        VAULT, json={"model_id": "m"}, headers={"Authorization": f"Bearer {key}"}
    )
    assert response.status_code == 201


def test_viewer_cannot_write(client, create_user):
    viewer = create_user("viewer")
    assert client.get(VAULT, headers=viewer.headers).status_code == 200
    assert client.post(VAULT, json={"model_id": "m"}, headers=viewer.headers).status_code == 403
