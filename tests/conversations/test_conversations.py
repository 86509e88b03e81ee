"""Seed 004's conversations: CRUD, moves between projects, lists (cursor, project filter,
full-text search), exports and ownership on every route."""

import json

import pytest

CONVERSATIONS = "/api/v1/conversations"


def make_conversation(client, headers, **fields):
    response = client.post(CONVERSATIONS, json={"title": "Chat", **fields}, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()


def add_message(client, headers, conversation_id, content, role="user"):
    response = client.post(
        f"/vault/conversations/{conversation_id}/messages",
        json={"role": role, "content": content},
        headers=headers,
    )
    assert response.status_code == 201, response.text
    return response.json()


def make_project(client, headers, name="P"):
    return client.post("/api/v1/projects", json={"name": name}, headers=headers).json()


def test_create_and_read_shape(client, create_user):
    owner = create_user()
    project = make_project(client, owner.headers)
    created = make_conversation(client, owner.headers, project_id=int(project["id"]))
    assert created["title"] == "Chat"
    assert created["project_id"] == project["id"]
    assert created["messageCount"] == 0
    assert created["createdAt"].endswith("Z") and created["updatedAt"].endswith("Z")
    add_message(client, owner.headers, created["id"], "first words")
    detail = client.get(f"{CONVERSATIONS}/{created['id']}", headers=owner.headers).json()
    assert detail["messageCount"] == 1
    [message] = detail["messages"]
    assert set(message) >= {"id", "role", "content", "timestamp", "attachments"}
    assert message["content"] == "first words" and message["attachments"] == []
    assert message["timestamp"].endswith("Z")


def test_default_title_comes_from_first_user_message(client, create_user):
    owner = create_user()
    conversation = client.post(CONVERSATIONS, json={}, headers=owner.headers).json()
    assert conversation["title"] == "New Conversation"
    long_text = "How do I configure " + "a very long thing " * 10
    add_message(client, owner.headers, conversation["id"], long_text)
    titled = client.get(f"{CONVERSATIONS}/{conversation['id']}", headers=owner.headers).json()
    assert titled["title"].startswith("How do I configure")
    assert titled["title"].endswith("...") and len(titled["title"]) <= 63
    add_message(client, owner.headers, conversation["id"], "Something else")
    again = client.get(f"{CONVERSATIONS}/{conversation['id']}", headers=owner.headers).json()
    assert again["title"] == titled["title"]


def test_given_title_is_kept(client, create_user):
    owner = create_user()
    conversation = make_conversation(client, owner.headers, title="Mine")
    add_message(client, owner.headers, conversation["id"], "hello there")
    assert (
        client.get(f"{CONVERSATIONS}/{conversation['id']}", headers=owner.headers).json()["title"]
        == "Mine"
    )


def test_rename_and_move_between_projects(client, create_user):
    owner = create_user()
    first, second = (
        make_project(client, owner.headers, "A"),
        make_project(client, owner.headers, "B"),
    )
    conversation = make_conversation(client, owner.headers, project_id=first["id"])
    path = f"{CONVERSATIONS}/{conversation['id']}"
    moved = client.patch(
        path, json={"title": "Renamed", "project_id": second["id"]}, headers=owner.headers
    )
    assert moved.status_code == 200
    assert moved.json()["title"] == "Renamed" and moved.json()["project_id"] == second["id"]
    listed = client.get(CONVERSATIONS, params={"project_id": second["id"]}, headers=owner.headers)
    assert [c["id"] for c in listed.json()] == [conversation["id"]]
    out = client.patch(path, json={"project_id": None}, headers=owner.headers)
    assert out.json()["project_id"] is None
    assert client.get(path, headers=owner.headers).json()["project_id"] is None


def test_cannot_move_into_a_foreign_project(client, create_user):
    owner, other = create_user(), create_user()
    foreign = make_project(client, other.headers)
    conversation = make_conversation(client, owner.headers)
    response = client.patch(
        f"{CONVERSATIONS}/{conversation['id']}",
        json={"project_id": foreign["id"]},
        headers=owner.headers,
    )
    assert response.status_code == 404
    assert response.json()["code"] == "project_not_found"


def test_delete(client, create_user):
    owner = create_user()
    conversation = make_conversation(client, owner.headers)
    add_message(client, owner.headers, conversation["id"], "bye")
    response = client.delete(f"{CONVERSATIONS}/{conversation['id']}", headers=owner.headers)
    assert response.status_code == 200
    assert response.json() == {"id": conversation["id"], "deleted": True}
    assert (
        client.get(f"{CONVERSATIONS}/{conversation['id']}", headers=owner.headers).status_code
        == 404
    )


def test_list_is_newest_activity_first_with_cursor(client, create_user):
    owner = create_user()
    ids = [make_conversation(client, owner.headers, title=f"C{n}")["id"] for n in range(5)]
    add_message(client, owner.headers, ids[0], "bump the oldest")
    expected = [ids[0], *reversed(ids[1:])]
    seen, cursor = [], None
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = client.get(CONVERSATIONS, params=params, headers=owner.headers)
        assert page.status_code == 200
        seen += [c["id"] for c in page.json()]
        cursor = page.headers.get("X-Next-Cursor")
        if not cursor:
            break
    assert seen == expected
    assert [c["id"] for c in client.get(CONVERSATIONS, headers=owner.headers).json()] == expected


def test_bad_cursor_is_400(client, create_user):
    owner = create_user()
    response = client.get(CONVERSATIONS, params={"cursor": "nonsense!"}, headers=owner.headers)
    assert response.status_code == 400
    assert response.json()["code"] == "bad_cursor"


def test_search_titles_and_message_text(client, create_user):
    owner, other = create_user(), create_user()
    by_title = make_conversation(client, owner.headers, title="Quarterly budget review")
    by_text = make_conversation(client, owner.headers, title="Misc")
    add_message(client, owner.headers, by_text["id"], "The photosynthesis experiment failed")
    unrelated = make_conversation(client, owner.headers, title="Other")
    add_message(client, owner.headers, unrelated["id"], "nothing to see")
    foreign = make_conversation(client, other.headers, title="photosynthesis notes")
    add_message(client, other.headers, foreign["id"], "photosynthesis everywhere")

    def search(text):
        response = client.get(CONVERSATIONS, params={"q": text}, headers=owner.headers)
        assert response.status_code == 200
        return {c["id"] for c in response.json()}

    assert search("budget") == {by_title["id"]}
    assert search("photosynthesis") == {by_text["id"]}
    assert search("photosynth") == {by_text["id"]}  # prefix, as one types
    assert search('experiment "failed') == {by_text["id"]}  # quotes are not syntax
    assert search("absent-word") == set()
    assert search("%") == set()


def test_export_json_and_markdown(client, create_user):
    owner = create_user()
    conversation = make_conversation(client, owner.headers, title="Exported")
    add_message(client, owner.headers, conversation["id"], "Question?")
    add_message(client, owner.headers, conversation["id"], "Answer!", role="assistant")
    path = f"{CONVERSATIONS}/{conversation['id']}/export"
    as_json = client.get(path, headers=owner.headers)
    assert as_json.status_code == 200
    assert "attachment" in as_json.headers["content-disposition"]
    document = json.loads(as_json.text)
    assert document["title"] == "Exported"
    assert [m["content"] for m in document["messages"]] == ["Question?", "Answer!"]
    as_md = client.get(path, params={"format": "markdown"}, headers=owner.headers)
    assert as_md.headers["content-type"].startswith("text/markdown")
    assert as_md.text.startswith("# Exported")
    assert "## User" in as_md.text and "Answer!" in as_md.text
    assert client.get(path, params={"format": "pdf"}, headers=owner.headers).status_code == 422


def test_messages_oldest_first_and_before(client, create_user):
    owner = create_user()
    conversation = make_conversation(client, owner.headers)
    ids = [add_message(client, owner.headers, conversation["id"], f"m{n}")["id"] for n in range(5)]
    path = f"{CONVERSATIONS}/{conversation['id']}/messages"
    latest = client.get(path, params={"limit": 2}, headers=owner.headers)
    assert [m["id"] for m in latest.json()] == ids[3:]
    older = client.get(
        path, params={"limit": 2, "before": latest.headers["X-Next-Cursor"]}, headers=owner.headers
    )
    assert [m["id"] for m in older.json()] == ids[1:3]
    assert [m["id"] for m in client.get(path, headers=owner.headers).json()] == ids


ROUTES = [
    ("get", CONVERSATIONS),
    ("post", CONVERSATIONS),
    ("get", f"{CONVERSATIONS}/{{id}}"),
    ("patch", f"{CONVERSATIONS}/{{id}}"),
    ("delete", f"{CONVERSATIONS}/{{id}}"),
    ("get", f"{CONVERSATIONS}/{{id}}/messages"),
    ("post", f"{CONVERSATIONS}/{{id}}/messages"),
    ("get", f"{CONVERSATIONS}/{{id}}/export"),
]


@pytest.mark.parametrize(("method", "path"), ROUTES)
def test_every_route_needs_credentials(client, method, path):
    response = client.request(method.upper(), path.format(id=1), json={"content": "x"})
    assert response.status_code == 401


@pytest.mark.parametrize(("method", "path"), [r for r in ROUTES if "{id}" in r[1]])
def test_another_users_conversation_is_404(client, create_user, method, path):
    owner, intruder = create_user(), create_user()
    conversation = make_conversation(client, owner.headers, title="Private")
    body = {"content": "hi", "title": "x"}
    response = client.request(
        method.upper(), path.format(id=conversation["id"]), json=body, headers=intruder.headers
    )
    assert response.status_code == 404
    assert response.json()["code"] == "conversation_not_found"
    still = client.get(f"{CONVERSATIONS}/{conversation['id']}", headers=owner.headers).json()
    assert still["title"] == "Private" and still["messageCount"] == 0


def test_lists_never_show_another_users_conversations(client, create_user):
    owner, intruder = create_user(), create_user()
    make_conversation(client, owner.headers, title="Secret plans")
    assert client.get(CONVERSATIONS, headers=intruder.headers).json() == []
    found = client.get(CONVERSATIONS, params={"q": "Secret"}, headers=intruder.headers).json()
    assert found == []


def test_viewer_may_read_but_not_write(client, create_user):
    viewer = create_user("viewer")
    assert client.get(CONVERSATIONS, headers=viewer.headers).status_code == 200
    assert client.post(CONVERSATIONS, json={}, headers=viewer.headers).status_code == 403


def test_moderator_reaches_other_users_conversations(client, create_user):
    owner, moderator = create_user(), create_user("moderator")
    conversation = make_conversation(client, owner.headers, title="Reported")
    path = f"{CONVERSATIONS}/{conversation['id']}"
    assert client.get(path, headers=moderator.headers).status_code == 200
    renamed = client.patch(path, json={"title": "Moderated"}, headers=moderator.headers)
    assert renamed.status_code == 200
    assert client.get(path, headers=owner.headers).json()["title"] == "Moderated"
    assert client.get(CONVERSATIONS, headers=moderator.headers).json() == []  # lists: own only
    assert client.delete(path, headers=moderator.headers).status_code == 200
