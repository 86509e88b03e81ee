"""Bad input gets a clear 4xx: a chunked body over the limit 413, NUL in any text 422, control
and bidi-formatting characters in names shown to others 422, a custom check's 422 with
`errors`, and `/v1` without providers OpenAI's 404 `model_not_found`."""

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

LIMIT = 64 * 1024


@pytest.fixture(scope="module")
def settings_overrides() -> dict[str, object]:
    return {"max_body_bytes": LIMIT}


def _chunks(*parts: bytes) -> Iterator[bytes]:
    yield from parts


def _is_422_with_errors(response) -> bool:
    body = response.json()
    return (
        response.status_code == 422
        and isinstance(body.get("detail"), str)
        and isinstance(body.get("errors"), list)
        and len(body["errors"]) >= 1
    )


def test_chunked_json_over_the_limit_is_413_like_content_length(client: TestClient, admin):
    body = b'{"name": "' + b"x" * (LIMIT + 10) + b'"}'
    headers = {**admin.headers, "Content-Type": "application/json"}
    declared = client.post("/api/v1/projects", content=body, headers=headers)
    chunked = client.post(
        "/api/v1/projects", content=_chunks(body[:1000], body[1000:]), headers=headers
    )
    for response in (declared, chunked):
        assert response.status_code == 413, response.text
        assert response.json()["code"] == "payload_too_large"
    assert client.get("/api/v1/projects", headers=admin.headers).json() == []


def test_nul_in_text_fields_is_422_and_nothing_is_stored(client: TestClient, create_user):
    user = create_user()
    for body in ({"name": "a\u0000b"}, {"name": "ok", "description": "x\x00y"}):
        response = client.post("/api/v1/projects", json=body, headers=user.headers)
        assert _is_422_with_errors(response), response.text
    conversation = client.post("/api/v1/conversations", json={"title": "t"}, headers=user.headers)
    conversation_id = conversation.json()["id"]
    response = client.post(
        f"/api/v1/conversations/{conversation_id}/messages",
        json={"content": "hello\u0000"},
        headers=user.headers,
    )
    assert _is_422_with_errors(response), response.text
    vault = client.post(
        "/vault/conversations", json={"title": "v", "model_id": "m"}, headers=user.headers
    ).json()
    response = client.post(
        f"/vault/conversations/{vault['id']}/messages",
        json={"role": "user", "content": "\u0000"},
        headers=user.headers,
    )
    assert _is_422_with_errors(response), response.text
    assert client.get("/api/v1/projects", headers=user.headers).json() == []
    detail = client.get(f"/api/v1/conversations/{conversation_id}", headers=user.headers).json()
    assert detail["messages"] == []


def test_nul_split_across_chunks_and_in_queries_and_forms(client: TestClient, create_user):
    user = create_user()
    headers = {**user.headers, "Content-Type": "application/json"}
    split = client.post(
        "/api/v1/projects", content=_chunks(b'{"name": "a\\u00', b'00"}'), headers=headers
    )
    assert _is_422_with_errors(split), split.text
    query = client.get("/api/v1/conversations", params={"q": "a\x00"}, headers=user.headers)
    assert _is_422_with_errors(query), query.text
    form = client.post("/api/v1/auth/token", data={"username": "x\x00", "password": "p"})
    assert _is_422_with_errors(form), form.text


def test_an_escaped_backslash_before_u0000_is_plain_text(client: TestClient, create_user):
    user = create_user()
    headers = {**user.headers, "Content-Type": "application/json"}
    response = client.post("/api/v1/projects", content=b'{"name": "a\\\\u0000"}', headers=headers)
    assert response.status_code == 201, response.text
    assert response.json()["name"] == "a\\u0000"


UNSAFE = ["Ad\u202emin", "\u2067evil", "bell\x07", "line\nbreak", "tab\there", "x\u200fy"]


@pytest.mark.parametrize("name", UNSAFE)
def test_names_shown_to_others_refuse_control_and_bidi_characters(
    client: TestClient, admin, name: str
) -> None:
    attempts = [
        (
            "POST",
            "/api/v1/auth/register",
            {
                "email": "b@example.com",
                "username": "bidi1",
                "password": "Correct-Horse-9",
                "full_name": name,
            },
        ),
        ("POST", "/api/v1/projects", {"name": name}),
        ("POST", "/api/v1/conversations", {"title": name}),
        ("POST", "/vault/conversations", {"title": name, "model_id": "m"}),
        ("POST", "/api/v1/permissions/roles", {"name": name, "description": "d"}),
        ("POST", "/api/v1/permissions/roles", {"name": "ok", "description": name}),
        ("POST", "/vault/admin/users", {"name": name, "email": "v@example.com"}),
        (
            "POST",
            "/api/v1/llm/providers",
            {"name": name, "type": "openai", "api_base": "http://127.0.0.1:9"},
        ),
    ]
    for method, path, body in attempts:
        response = client.request(method, path, json=body, headers=admin.headers)
        assert _is_422_with_errors(response), (path, response.status_code, response.text)


def test_ordinary_unicode_names_are_accepted(client: TestClient, admin) -> None:
    response = client.post("/api/v1/projects", json={"name": "Zoë 山田 — ✓"}, headers=admin.headers)
    assert response.status_code == 201
    assert response.json()["name"] == "Zoë 山田 — ✓"


def test_a_custom_check_422_lists_errors(client: TestClient) -> None:
    response = client.post(
        "/api/v1/auth/register",
        json={"email": "not-an-email", "username": "mailcheck", "password": "Correct-Horse-9"},
    )
    assert _is_422_with_errors(response), response.text
    assert response.json()["code"] == "invalid_email"
    assert response.json()["errors"][0]["loc"] == ["body", "email"]


def test_v1_unknown_model_without_providers_is_openai_404(client: TestClient, create_user):
    user = create_user()
    for path, body in (
        (
            "/v1/chat/completions",
            {"model": "gpt-x", "messages": [{"role": "user", "content": "hi"}]},
        ),
        (
            "/v1/chat/completions",
            {"model": "gpt-x", "stream": True, "messages": [{"role": "user", "content": "hi"}]},
        ),
        ("/v1/embeddings", {"model": "embed-x", "input": "hi"}),
    ):
        response = client.post(path, json=body, headers=user.headers)
        assert response.status_code == 404, response.text
        error = response.json()["error"]
        assert error["code"] == "model_not_found"
        assert error["type"] == "invalid_request_error"
