"""With no LLM provider configured, sending a message is a 503 that says how to add one,
and nothing is stored."""


def test_no_provider_is_503_with_instructions(client, create_user):
    owner = create_user()
    conversation = client.post("/api/v1/conversations", json={}, headers=owner.headers).json()
    path = f"/api/v1/conversations/{conversation['id']}/messages"
    for stream in (False, True):
        response = client.post(
            path, json={"content": "hi", "stream": stream}, headers=owner.headers
        )
        assert response.status_code == 503
        assert "POST /api/v1/llm/providers" in response.json()["detail"]
    messages = client.get(
        f"/api/v1/conversations/{conversation['id']}", headers=owner.headers
    ).json()["messages"]
    assert messages == []
