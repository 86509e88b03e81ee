"""The create and store paths that write with prebuilt statements (no ORM unit of work): what a
conversation's create and Vault's message post leave in the database, seen through the API."""

VAULT = "/vault/conversations"
CONVERSATIONS = "/api/v1/conversations"


def vault_conversation(client, headers, **body):
    response = client.post(VAULT, json={"model_id": "qwen-7b", **body}, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()


def post(client, headers, conversation_id, **body):
    return client.post(f"{VAULT}/{conversation_id}/messages", json=body, headers=headers)


def test_created_conversation_reads_back_as_answered(client, create_user):
    owner = create_user()
    created = client.post(
        CONVERSATIONS, json={"title": "Plan", "model": "gpt-4o"}, headers=owner.headers
    )
    assert created.status_code == 201
    read = client.get(f"{CONVERSATIONS}/{created.json()['id']}", headers=owner.headers).json()
    for field in ("id", "title", "project_id", "model", "messageCount", "createdAt", "updatedAt"):
        assert read[field] == created.json()[field], field


def test_assistant_message_takes_the_conversation_model_and_user_message_none(client, create_user):
    owner = create_user()
    conversation = vault_conversation(client, owner.headers, title="Models")
    assert post(client, owner.headers, conversation["id"], role="user", content="Hi").is_success
    reply = post(client, owner.headers, conversation["id"], role="assistant", content="Hello")
    assert reply.status_code == 201
    messages = client.get(
        f"{CONVERSATIONS}/{conversation['id']}/messages", headers=owner.headers
    ).json()
    assert [(m["role"], m["model"]) for m in messages] == [("user", None), ("assistant", "qwen-7b")]
    assert [m["id"] for m in messages] == [messages[0]["id"], reply.json()["id"]]


def test_each_post_counts_and_moves_the_conversation_to_the_top(client, create_user):
    owner = create_user()
    first = vault_conversation(client, owner.headers, title="First")
    second = vault_conversation(client, owner.headers, title="Second")
    for n in range(3):
        assert post(client, owner.headers, first["id"], role="user", content=f"m{n}").is_success
    listed = client.get(VAULT, headers=owner.headers).json()
    assert [item["id"] for item in listed[:2]] == [first["id"], second["id"]]
    assert listed[0]["message_count"] == 3 and listed[0]["title"] == "First"
    assert listed[0]["updated_at"] > first["updated_at"]


def test_only_a_user_message_names_a_default_titled_conversation(client, create_user):
    owner = create_user()
    conversation = vault_conversation(client, owner.headers)
    for role, content in (("system", "Be brief"), ("assistant", "Ok")):
        assert post(
            client, owner.headers, conversation["id"], role=role, content=content
        ).is_success
    titled = client.get(f"{VAULT}/{conversation['id']}", headers=owner.headers).json()
    assert titled["title"] == "New Conversation"
    assert post(
        client, owner.headers, conversation["id"], role="user", content="Plan a trip"
    ).is_success
    titled = client.get(f"{VAULT}/{conversation['id']}", headers=owner.headers).json()
    assert titled["title"] == "Plan a trip"


def test_an_admin_stores_into_another_users_conversation(client, create_user):
    owner, admin = create_user(), create_user("admin")
    conversation = vault_conversation(client, owner.headers, title="Owned")
    answer = post(client, admin.headers, conversation["id"], role="user", content="From admin")
    assert answer.status_code == 201
    detail = client.get(f"{VAULT}/{conversation['id']}", headers=owner.headers).json()
    assert [m["content"] for m in detail["messages"]] == ["From admin"]


def test_a_refused_post_changes_nothing(client, create_user):
    owner, intruder = create_user(), create_user()
    conversation = vault_conversation(client, owner.headers)
    refused = post(client, intruder.headers, conversation["id"], role="user", content="Mine now")
    assert refused.status_code == 404
    assert refused.json()["code"] == "conversation_not_found"
    assert post(client, owner.headers, 10**9, role="user", content="x").status_code == 404
    still = client.get(VAULT, headers=owner.headers).json()[0]
    assert still["title"] == "New Conversation" and still["message_count"] == 0
    assert still["updated_at"] == conversation["updated_at"]
