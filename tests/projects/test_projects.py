"""Seed 004's projects: shapes, ownership (404 for others), cascade on delete, pagination."""

import pytest

from atrium.conversations.tables import Conversation, Message

PROJECTS = "/api/v1/projects"


def make_project(client, headers, **fields):
    body = {"name": "My Project", "description": "About it", "color": "blue", **fields}
    response = client.post(PROJECTS, json=body, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()


def test_create_returns_the_seed_shape(client, create_user):
    owner = create_user()
    project = make_project(client, owner.headers)
    assert set(project) == {
        "id",
        "name",
        "description",
        "color",
        "conversations",
        "createdAt",
        "updatedAt",
    }
    assert isinstance(project["id"], str) and project["id"].isdigit()
    assert project["name"] == "My Project" and project["color"] == "blue"
    assert project["conversations"] == []
    assert project["createdAt"].endswith("Z")


def test_list_shows_own_projects_with_their_conversations(client, create_user):
    owner, other = create_user(), create_user()
    project = make_project(client, owner.headers, name="Alpha")
    make_project(client, other.headers, name="Foreign")
    created = client.post(
        "/api/v1/conversations",
        json={"title": "Inside", "project_id": int(project["id"])},
        headers=owner.headers,
    ).json()
    listed = client.get(PROJECTS, headers=owner.headers).json()
    assert [p["name"] for p in listed] == ["Alpha"]
    assert [c["id"] for c in listed[0]["conversations"]] == [created["id"]]
    assert listed[0]["conversations"][0]["project_id"] == project["id"]


def test_update_changes_and_persists(client, create_user):
    owner = create_user()
    project = make_project(client, owner.headers)
    response = client.patch(
        f"{PROJECTS}/{project['id']}",
        json={"name": "Renamed", "color": "green"},
        headers=owner.headers,
    )
    assert response.status_code == 200
    assert response.json()["name"] == "Renamed"
    again = client.get(f"{PROJECTS}/{project['id']}", headers=owner.headers).json()
    assert again["name"] == "Renamed" and again["color"] == "green"
    assert again["description"] == "About it"


def test_blank_name_is_422(client, create_user):
    owner = create_user()
    assert client.post(PROJECTS, json={"name": "  "}, headers=owner.headers).status_code == 422
    assert client.post(PROJECTS, json={}, headers=owner.headers).status_code == 422
    project = make_project(client, owner.headers)
    response = client.patch(
        f"{PROJECTS}/{project['id']}", json={"name": None}, headers=owner.headers
    )
    assert response.status_code == 422


def test_delete_removes_conversations_and_messages(client, app, create_user, run):
    owner = create_user()
    project = make_project(client, owner.headers)
    conversation = client.post(
        "/api/v1/conversations",
        json={"title": "Doomed", "project_id": project["id"]},
        headers=owner.headers,
    ).json()
    posted = client.post(
        f"/vault/conversations/{conversation['id']}/messages",
        json={"role": "user", "content": "hello"},
        headers=owner.headers,
    )
    assert posted.status_code == 201
    response = client.delete(f"{PROJECTS}/{project['id']}", headers=owner.headers)
    assert response.status_code == 200
    assert response.json() == {"id": project["id"], "deleted": True}
    assert client.get(f"{PROJECTS}/{project['id']}", headers=owner.headers).status_code == 404
    gone = client.get(f"/api/v1/conversations/{conversation['id']}", headers=owner.headers)
    assert gone.status_code == 404

    async def leftovers() -> tuple:
        from sqlalchemy import func, select

        async with app.state.db.sessions() as session:
            conversations = await session.scalar(
                select(func.count())
                .select_from(Conversation)
                .where(Conversation.id == int(conversation["id"]))
            )
            messages = await session.scalar(
                select(func.count())
                .select_from(Message)
                .where(Message.conversation_id == int(conversation["id"]))
            )
            return conversations, messages

    assert run(leftovers) == (0, 0)


def test_pagination_with_cursor(client, create_user):
    owner = create_user()
    ids = [make_project(client, owner.headers, name=f"P{n}")["id"] for n in range(5)]
    first = client.get(PROJECTS, params={"limit": 2}, headers=owner.headers)
    assert [p["id"] for p in first.json()] == ids[:2]
    cursor = first.headers["X-Next-Cursor"]
    second = client.get(PROJECTS, params={"limit": 2, "cursor": cursor}, headers=owner.headers)
    assert [p["id"] for p in second.json()] == ids[2:4]
    everything = client.get(PROJECTS, headers=owner.headers)
    assert [p["id"] for p in everything.json()] == ids
    assert "X-Next-Cursor" not in everything.headers


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", PROJECTS),
        ("post", PROJECTS),
        ("get", f"{PROJECTS}/1"),
        ("patch", f"{PROJECTS}/1"),
        ("delete", f"{PROJECTS}/1"),
    ],
)
def test_every_route_needs_credentials(client, method, path):
    response = client.request(method.upper(), path, json={"name": "x"})
    assert response.status_code == 401


def test_another_users_project_is_404_on_every_route(client, create_user):
    owner, intruder = create_user(), create_user()
    project = make_project(client, owner.headers)
    path = f"{PROJECTS}/{project['id']}"
    assert client.get(path, headers=intruder.headers).status_code == 404
    assert client.patch(path, json={"name": "x"}, headers=intruder.headers).status_code == 404
    assert client.delete(path, headers=intruder.headers).status_code == 404
    assert project["id"] not in [
        p["id"] for p in client.get(PROJECTS, headers=intruder.headers).json()
    ]
    moved = client.post(
        "/api/v1/conversations", json={"project_id": project["id"]}, headers=intruder.headers
    )
    assert moved.status_code == 404
    assert client.get(path, headers=owner.headers).json()["name"] == "My Project"


def test_viewer_may_read_but_not_write(client, create_user):
    viewer = create_user("viewer")
    assert client.get(PROJECTS, headers=viewer.headers).status_code == 200
    response = client.post(PROJECTS, json={"name": "x"}, headers=viewer.headers)
    assert response.status_code == 403


def test_admin_reaches_other_users_projects(client, create_user, admin):
    owner = create_user()
    project = make_project(client, owner.headers)
    response = client.get(f"{PROJECTS}/{project['id']}", headers=admin.headers)
    assert response.status_code == 200
