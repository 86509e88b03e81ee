"""Seed 004's admin metrics: the workspace's totals, for administrators only."""

from tests.conversations.test_conversations import add_message, make_conversation, make_project


def test_admin_metrics(client, create_user, admin):
    owner = create_user()
    make_project(client, owner.headers)
    conversation = make_conversation(client, owner.headers)
    add_message(client, owner.headers, conversation["id"], "count me")
    client.get("/api/v1/projects", headers=owner.headers)  # activity
    client.portal.call(client.app.state.activity.flush)
    response = client.get("/api/v1/admin/metrics", headers=admin.headers)
    assert response.status_code == 200
    metrics = response.json()
    assert set(metrics) == {
        "totalUsers",
        "totalProjects",
        "totalConversations",
        "totalMessages",
        "activeUsers24h",
    }
    assert metrics["totalProjects"] >= 1 and metrics["totalMessages"] >= 1
    assert metrics["totalConversations"] >= 1
    assert 1 <= metrics["activeUsers24h"] <= metrics["totalUsers"]


def test_admin_metrics_is_for_admins_only(client, create_user):
    assert client.get("/api/v1/admin/metrics").status_code == 401
    for role in ("user", "moderator", "analyst"):
        response = client.get("/api/v1/admin/metrics", headers=create_user(role).headers)
        assert response.status_code == 403, role
