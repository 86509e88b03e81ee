"""Request checks before anything is routed: OpenAI's body shapes, answered as 400s."""

from typing import Any

from atrium.gateway.errors import MalformedRequest

ROLES = frozenset(("system", "developer", "user", "assistant", "tool", "function"))


def _check_message(index: int, message: Any) -> None:
    where = f"messages[{index}]"
    if not isinstance(message, dict):
        raise MalformedRequest(f"{where} must be an object with 'role' and 'content'", param=where)
    role = message.get("role")
    if role not in ROLES:
        raise MalformedRequest(
            f"{where}.role must be one of {', '.join(sorted(ROLES))} (got {role!r})",
            param=f"{where}.role",
        )
    content = message.get("content")
    if content is None:
        if role == "assistant" and (message.get("tool_calls") or message.get("function_call")):
            return
        raise MalformedRequest(f"{where}.content is required", param=f"{where}.content")
    if not isinstance(content, str | list):
        raise MalformedRequest(
            f"{where}.content must be a string or a list of content parts",
            param=f"{where}.content",
        )


def check_chat_body(body: Any) -> None:
    if not isinstance(body, dict):
        raise MalformedRequest("The request body must be a JSON object")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise MalformedRequest("messages must be a non-empty list of messages", param="messages")
    for index, message in enumerate(messages):
        _check_message(index, message)
    model = body.get("model")
    if model is not None and not isinstance(model, str):
        raise MalformedRequest("model must be a string", param="model")
    if "stream" in body and not isinstance(body["stream"], bool | None):
        raise MalformedRequest("stream must be true or false", param="stream")


def check_embeddings_body(body: Any) -> None:
    if not isinstance(body, dict):
        raise MalformedRequest("The request body must be a JSON object")
    if not isinstance(body.get("model"), str) or not body["model"]:
        raise MalformedRequest("model is required", param="model")
    value = body.get("input")
    if not value or not isinstance(value, str | list):
        raise MalformedRequest("input must be a string or a non-empty list", param="input")
