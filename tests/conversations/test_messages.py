"""Seed 004's POST /conversations/{id}/messages: generation through the gateway, history,
attachments, streaming, disconnects, web search and bad input."""

import asyncio
import json

from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

from tests.conversations.asgi import json_post_scope
from tests.files.samples import pdf_with_text, png
from tests.gateway.upstreams import serve_app

CONVERSATIONS = "/api/v1/conversations"


def new_conversation(client, headers, **body):
    response = client.post(CONVERSATIONS, json=body, headers=headers)
    assert response.status_code == 201
    return response.json()


def send(client, headers, conversation_id, **body):
    return client.post(
        f"{CONVERSATIONS}/{conversation_id}/messages",
        json={"content": "Hello?", **body},
        headers=headers,
    )


def detail(client, headers, conversation_id):
    return client.get(f"{CONVERSATIONS}/{conversation_id}", headers=headers).json()


def sse_events(text):
    events = []
    for block in text.strip().split("\n\n"):
        lines = block.split("\n")
        name = next(line[7:] for line in lines if line.startswith("event: "))
        data = "\n".join(line[6:] for line in lines if line.startswith("data: "))
        events.append((name, json.loads(data)))
    return events


def upload(client, headers, content, name):
    response = client.post("/api/v1/upload", files={"file": (name, content)}, headers=headers)
    assert response.status_code == 201
    return response.json()


def test_reply_is_generated_stored_and_returned(client, create_user, fake):
    owner = create_user()
    conversation = new_conversation(client, owner.headers)
    response = send(client, owner.headers, conversation["id"], content="What is Atrium?")
    assert response.status_code == 200, response.text
    reply = response.json()
    assert reply["role"] == "assistant" and reply["content"] == "Hello there, friend!"
    assert reply["attachments"] == [] and reply["timestamp"].endswith("Z")
    assert reply["incomplete"] is False and reply["model"] == "gpt-4o"
    assert reply["warnings"] == []
    sent = fake.last.json
    assert sent["model"] == "gpt-4o"
    assert sent["messages"][-1] == {"role": "user", "content": "What is Atrium?"}
    stored = detail(client, owner.headers, conversation["id"])
    assert [(m["role"], m["content"]) for m in stored["messages"]] == [
        ("user", "What is Atrium?"),
        ("assistant", "Hello there, friend!"),
    ]
    assert stored["messages"][1]["id"] == reply["id"]
    assert stored["title"] == "What is Atrium?" and stored["messageCount"] == 2


def test_history_goes_to_the_model(client, create_user, fake):
    owner = create_user()
    conversation = new_conversation(client, owner.headers, title="Kept")
    send(client, owner.headers, conversation["id"], content="First question")
    fake.reply_text = "Second answer"
    send(client, owner.headers, conversation["id"], content="Second question")
    assert [(m["role"], m["content"]) for m in fake.last.json["messages"]] == [
        ("user", "First question"),
        ("assistant", "Hello there, friend!"),
        ("user", "Second question"),
    ]


def set_model_metadata(client, provider, model: str, **values) -> None:
    path = f"/api/v1/llm/providers/{provider['provider']['id']}/models/{model}"
    response = client.put(path, json=values, headers=provider["headers"])
    assert response.status_code == 200, response.text


def test_history_is_trimmed_to_the_context_window(client, create_user, fake, provider):
    owner = create_user()
    conversation = new_conversation(client, owner.headers)
    fake.reply_text = "ok"
    for n in range(6):
        send(client, owner.headers, conversation["id"], content=f"message {n} " + "word " * 150)
    send(client, owner.headers, conversation["id"], content="unknown window: all of it")
    assert len(fake.last.json["messages"]) == 13
    # the window an administrator gives the model is what the history is trimmed to
    set_model_metadata(client, provider, "gpt-4o", context_window=1000)
    try:
        send(client, owner.headers, conversation["id"], content="latest question")
    finally:
        set_model_metadata(client, provider, "gpt-4o", context_window=None)
    sent = fake.last.json["messages"]
    assert sent[-1]["content"] == "latest question"
    assert 2 <= len(sent) < 13
    assert "unknown window" in sent[-3]["content"]  # the newest history is what stays


def test_model_and_parameters_pass_through(client, create_user, fake):
    owner = create_user()
    conversation = new_conversation(client, owner.headers, model="plain-model")
    send(client, owner.headers, conversation["id"], parameters={"temperature": 0.2, "bogus": 1})
    assert fake.last.json["model"] == "plain-model"
    assert fake.last.json["temperature"] == 0.2 and "bogus" not in fake.last.json
    send(client, owner.headers, conversation["id"], model="gpt-4o")
    assert fake.last.json["model"] == "gpt-4o"


def test_streaming_sends_deltas_then_the_stored_message(client, create_user, fake):
    owner = create_user()
    conversation = new_conversation(client, owner.headers)
    response = send(client, owner.headers, conversation["id"], stream=True)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    events = sse_events(response.text)
    deltas = [data["content"] for name, data in events if name == "delta"]
    assert "".join(deltas) == "Hello there, friend!" and len(deltas) == 3
    name, message = events[-1]
    assert name == "message" and message["content"] == "Hello there, friend!"
    assert message["role"] == "assistant" and message["incomplete"] is False
    stored = detail(client, owner.headers, conversation["id"])["messages"]
    assert stored[-1]["id"] == message["id"]


def test_accept_header_asks_for_a_stream(client, create_user, fake):
    owner = create_user()
    conversation = new_conversation(client, owner.headers)
    response = client.post(
        f"{CONVERSATIONS}/{conversation['id']}/messages",
        json={"content": "hi"},
        headers={**owner.headers, "Accept": "text/event-stream"},
    )
    assert sse_events(response.text)[-1][0] == "message"


def test_disconnect_mid_stream_keeps_the_partial_reply(client, app, create_user, fake):
    owner = create_user()
    conversation = new_conversation(client, owner.headers)
    gate = fake.hold_after_first_chunk()
    body = json.dumps({"content": "Tell me a story", "stream": True}).encode()
    path = f"{CONVERSATIONS}/{conversation['id']}/messages"
    sent = []

    async def scenario():
        first_delta = asyncio.Event()
        requested = False

        async def receive():
            nonlocal requested
            if not requested:
                requested = True
                return {"type": "http.request", "body": body, "more_body": False}
            await first_delta.wait()
            return {"type": "http.disconnect"}

        async def send_(message):
            sent.append(message)
            if b"event: delta" in message.get("body", b""):
                first_delta.set()

        scope = json_post_scope(path, owner.headers["Authorization"])
        await asyncio.wait_for(app(scope, receive, send_), timeout=10)

    try:
        client.portal.call(scenario)
    finally:
        gate.set()
    assert sent[0]["status"] == 200
    messages = detail(client, owner.headers, conversation["id"])["messages"]
    assert [m["role"] for m in messages] == ["user", "assistant"]
    assert messages[1]["content"] == "Hello" and messages[1]["incomplete"] is True


def test_upstream_failure_before_streaming_is_a_plain_error(client, create_user, fake):
    owner = create_user()
    conversation = new_conversation(client, owner.headers)
    fake.fail_with(500, "boom")
    for stream in (False, True):
        response = send(client, owner.headers, conversation["id"], stream=stream)
        assert response.status_code == 502, response.text
        assert response.headers["content-type"].startswith("application/json")
    assert detail(client, owner.headers, conversation["id"])["messages"] == []


def test_pdf_attachment_text_reaches_the_model(client, create_user, fake):
    owner = create_user()
    pdf = upload(
        client, owner.headers, pdf_with_text("The secret launch code is TANGERINE-42"), "plan.pdf"
    )
    conversation = new_conversation(client, owner.headers)
    response = send(
        client, owner.headers, conversation["id"], content="What is the code?", files=[pdf["id"]]
    )
    assert response.status_code == 200
    prompt = fake.last.json["messages"][-1]["content"]
    assert "What is the code?" in prompt and "TANGERINE-42" in prompt and "plan.pdf" in prompt
    user_message = detail(client, owner.headers, conversation["id"])["messages"][0]
    assert [a["id"] for a in user_message["attachments"]] == [pdf["id"]]
    assert user_message["attachments"][0]["file_path"].startswith(
        f"/api/v1/files/{pdf['id']}/content?exp="
    )


def test_text_files_and_other_types(client, create_user, fake):
    owner = create_user()
    notes = upload(client, owner.headers, b"a,b\n1,2\n", "table.csv")
    blob = upload(client, owner.headers, bytes(range(256)), "thing.bin")
    conversation = new_conversation(client, owner.headers)
    send(client, owner.headers, conversation["id"], files=[notes["id"], blob["id"]])
    prompt = fake.last.json["messages"][-1]["content"]
    assert "a,b\n1,2" in prompt
    assert "thing.bin (application/octet-stream" in prompt and "not included" in prompt


def test_images_go_as_parts_to_vision_models_only(client, create_user, fake, provider):
    owner = create_user()
    image = upload(client, owner.headers, png(), "pic.png")
    conversation = new_conversation(client, owner.headers)
    send(client, owner.headers, conversation["id"], content="Describe", files=[image["id"]])
    unknown = fake.last.json["messages"][-1]["content"]
    assert isinstance(unknown, str) and "pic.png (image/png" in unknown  # not known to see
    set_model_metadata(client, provider, "gpt-4o", supports_vision=True)
    try:
        send(client, owner.headers, conversation["id"], content="Describe", files=[image["id"]])
    finally:
        set_model_metadata(client, provider, "gpt-4o", supports_vision=None)
    content = fake.last.json["messages"][-1]["content"]
    assert content[0]["type"] == "text" and content[0]["text"].startswith("Describe")
    assert content[1]["image_url"]["url"].startswith("data:image/png;base64,")
    send(client, owner.headers, conversation["id"], model="plain-model", files=[image["id"]])
    plain = fake.last.json["messages"][-1]["content"]
    assert isinstance(plain, str) and "pic.png (image/png" in plain


def test_foreign_or_unknown_files_are_404_and_nothing_is_stored(client, create_user, fake):
    owner, other = create_user(), create_user()
    foreign = upload(client, other.headers, b"theirs", "theirs.txt")
    conversation = new_conversation(client, owner.headers)
    for files in ([foreign["id"]], ["999999"], ["file_id_1"]):
        response = send(client, owner.headers, conversation["id"], files=files)
        assert response.status_code == 404, files
        assert response.json()["code"] == "file_not_found"
    assert detail(client, owner.headers, conversation["id"])["messages"] == []
    assert fake.requests == []


def test_bad_input(client, create_user, fake):
    owner = create_user()
    conversation = new_conversation(client, owner.headers)
    for content in ("", "   "):
        response = send(client, owner.headers, conversation["id"], content=content)
        assert response.status_code == 422
        assert response.json()["detail"].startswith("content")
    assert send(client, owner.headers, 999999).status_code == 404
    other = create_user()
    assert send(client, other.headers, conversation["id"]).status_code == 404
    assert detail(client, owner.headers, conversation["id"])["messages"] == []


def test_internet_without_a_search_endpoint_warns(client, create_user, fake):
    owner = create_user()
    conversation = new_conversation(client, owner.headers)
    reply = send(client, owner.headers, conversation["id"], internet_enabled=True).json()
    assert reply["warnings"] == ["Web search is unavailable: no search endpoint is configured"]
    stored = detail(client, owner.headers, conversation["id"])["messages"][-1]
    assert stored["warnings"] == reply["warnings"]


def test_internet_with_a_search_endpoint(client, create_user, fake, provider):
    queries = []

    async def searx(request):
        queries.append(dict(request.query_params))
        return JSONResponse(
            {
                "results": [
                    {
                        "title": "Atrium docs",
                        "url": "https://example.org/atrium",
                        "content": "It is new",
                    },
                ]
            }
        )

    with serve_app(Starlette(routes=[Route("/search", searx)])) as base:
        admin = provider["headers"]
        set_url = client.put(
            "/api/v1/admin/settings", json={"web_search_url": f"{base}/search"}, headers=admin
        )
        assert set_url.status_code == 200, set_url.text
        try:
            owner = create_user()
            conversation = new_conversation(client, owner.headers)
            reply = send(
                client,
                owner.headers,
                conversation["id"],
                content="atrium news",
                internet_enabled=True,
            ).json()
        finally:
            client.put("/api/v1/admin/settings", json={"web_search_url": None}, headers=admin)
    assert queries == [{"q": "atrium news", "format": "json"}]
    assert reply["warnings"] == []
    system = fake.last.json["messages"][0]
    assert system["role"] == "system" and "https://example.org/atrium" in system["content"]


def test_search_setting_must_be_a_url(client, provider):
    response = client.put(
        "/api/v1/admin/settings",
        json={"web_search_url": "file:///etc"},
        headers=provider["headers"],
    )
    assert response.status_code == 422


def test_failing_search_endpoint_is_a_warning_not_an_error(client, create_user, fake, provider):
    async def broken(request):
        return JSONResponse({"error": "down"}, status_code=500)

    with serve_app(Starlette(routes=[Route("/search", broken)])) as base:
        admin = provider["headers"]
        client.put(
            "/api/v1/admin/settings", json={"web_search_url": f"{base}/search"}, headers=admin
        )
        try:
            owner = create_user()
            conversation = new_conversation(client, owner.headers)
            response = send(client, owner.headers, conversation["id"], internet_enabled=True)
        finally:
            client.put("/api/v1/admin/settings", json={"web_search_url": None}, headers=admin)
    assert response.status_code == 200
    assert response.json()["warnings"] == [
        "Web search failed: the search endpoint answered HTTP 500"
    ]
    assert response.json()["content"] == "Hello there, friend!"
