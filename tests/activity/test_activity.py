"""The activity feed: written by the domains in the transaction of the change."""

import pytest

FEED = "/api/v1/activity"


def feed(client, headers, **params):
    response = client.get(FEED, headers=headers, params=params)
    assert response.status_code == 200, response.text
    return response.json()


def test_changes_appear_in_human_terms_newest_first(client, create_user):
    alice = create_user(full_name="Alice Example")
    created = client.post("/api/v1/conversations", json={"title": "Q3 plan"}, headers=alice.headers)
    assert created.status_code == 201, created.text
    upload = client.post(
        "/api/v1/upload", files={"file": ("notes.txt", b"hello")}, headers=alice.headers
    )
    assert upload.status_code == 201, upload.text
    events = feed(client, alice.headers)
    assert [e["action"] for e in events[:2]] == ["file.uploaded", "conversation.created"]
    assert events[1]["description"] == "Alice Example created conversation 'Q3 plan'"
    assert events[1]["type"] == "inference" and events[0]["type"] == "upload"
    assert events[0]["created_at"].endswith("Z") and events[0]["user_id"] == str(alice.id)


def test_a_failed_change_writes_no_event(client, create_user):
    user = create_user()
    before = feed(client, user.headers)
    response = client.post(
        "/api/v1/conversations", json={"title": "x", "project_id": "999999"}, headers=user.headers
    )
    assert response.status_code == 404
    assert feed(client, user.headers) == before


def test_users_see_their_own_and_reaching_roles_everyones(client, create_user):
    alice, bob, analyst = create_user(), create_user(), create_user("analyst")
    client.post("/api/v1/conversations", json={"title": "alice's"}, headers=alice.headers)
    client.post("/api/v1/conversations", json={"title": "bob's"}, headers=bob.headers)
    assert all(e["user_id"] == str(alice.id) for e in feed(client, alice.headers))
    everyone = feed(client, analyst.headers, limit=1000)
    assert {str(alice.id), str(bob.id)} <= {e["user_id"] for e in everyone}
    assert client.get(FEED).status_code == 401


def test_admin_changes_to_users_are_recorded(client, create_user):
    admin, user = create_user("admin", full_name="Root Admin"), create_user()
    changed = client.patch(
        f"/api/v1/admin/users/{user.id}", json={"role": "analyst"}, headers=admin.headers
    )
    assert changed.status_code == 200, changed.text
    event = feed(client, admin.headers, type="user")[0]
    assert event["description"] == f"Root Admin changed the role of {user.username} to analyst"


def test_vault_envelope(client, create_user):
    user = create_user()
    client.post("/api/v1/conversations", json={"title": "Vault"}, headers=user.headers)
    body = client.get("/vault/activity", headers=user.headers, params={"limit": 5}).json()
    assert set(body) == {"items", "total"} and body["total"] >= 1
    item = body["items"][0]
    assert set(item) == {"id", "type", "title", "description", "timestamp", "user"}
    assert item["type"] in {"training", "upload", "inference", "user", "system"}
    assert (
        client.get("/vault/activity", headers=user.headers, params={"limit": 101}).status_code
        == 422
    )


@pytest.mark.parametrize("path", ["/vault/activity", FEED])
def test_anonymous_is_401(client, path):
    assert client.get(path).status_code == 401
