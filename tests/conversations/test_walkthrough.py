"""Issue 5's "done when": through the documented API alone, a new user registers, creates a
project, uploads a PDF, starts a conversation in it, asks about the PDF and reads a streamed
answer (from the suite's fake OpenAI-protocol upstream)."""

import json

from tests.files.samples import pdf_with_text


def test_openapi_documents_the_workspace(client):
    spec = client.get("/openapi.json").json()
    upload = spec["paths"]["/api/v1/upload"]["post"]
    schema = upload["requestBody"]["content"]["multipart/form-data"]["schema"]
    assert schema["properties"]["file"]["format"] == "binary"
    messages = spec["paths"]["/api/v1/conversations/{conversation_id}/messages"]["post"]
    assert "text/event-stream" in messages["responses"]["200"]["content"]
    for path in (
        "/api/v1/projects",
        "/api/v1/conversations",
        "/api/v1/files",
        "/api/v1/files/{file_id}/content",
        "/api/v1/admin/metrics",
        "/vault/conversations/{conversation_id}/messages",
    ):
        assert path in spec["paths"], path


def test_register_project_pdf_conversation_streamed_answer(client, fake):
    registered = client.post(
        "/api/v1/auth/register",
        json={
            "email": "walker@example.com",
            "username": "walker",
            "password": "Walk-the-path-42",
        },
    )
    assert registered.status_code in (200, 201), registered.text
    token = registered.json()["tokens"]["accessToken"]
    headers = {"Authorization": f"Bearer {token}"}

    project = client.post(
        "/api/v1/projects", json={"name": "Research", "color": "blue"}, headers=headers
    ).json()
    pdf = client.post(
        "/api/v1/upload",
        files={"file": ("paper.pdf", pdf_with_text("Result: the sky is green"))},
        headers=headers,
    ).json()
    assert pdf["mime_type"] == "application/pdf"
    conversation = client.post(
        "/api/v1/conversations",
        json={"title": "New Conversation", "project_id": project["id"]},
        headers=headers,
    ).json()
    fake.reply_text = "The paper says the sky is green."
    answer = client.post(
        f"/api/v1/conversations/{conversation['id']}/messages",
        json={
            "content": "What does the paper conclude?",
            "internet_enabled": False,
            "files": [pdf["id"]],
            "stream": True,
        },
        headers=headers,
    )
    assert answer.status_code == 200
    events = [block for block in answer.text.strip().split("\n\n")]
    deltas = "".join(
        json.loads(b.split("data: ", 1)[1])["content"]
        for b in events
        if b.startswith("event: delta")
    )
    assert deltas == "The paper says the sky is green."
    assert events[-1].startswith("event: message")
    assert "the sky is green" in fake.last.json["messages"][-1]["content"]

    listed = client.get("/api/v1/projects", headers=headers).json()
    [summary] = listed[0]["conversations"]
    assert summary["title"] == "What does the paper conclude?"
    assert summary["messageCount"] == 2
