"""Reading OpenAI-shaped requests and building OpenAI-shaped answers, for every adapter."""

import base64
import json
import struct
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from atrium.providers.adapters.base import UnsupportedOperation

Message = dict[str, Any]


def now() -> int:
    return int(time.time())


def new_id(prefix: str = "chatcmpl") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:24]}"


# --- reading requests -----------------------------------------------------------------


def text_of(content: Any) -> str:
    """The text of a message content: a string, or the text parts of a list of parts."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    return "".join(
        part.get("text", "")
        for part in content
        if isinstance(part, dict) and part.get("type") in ("text", "input_text")
    )


def content_parts(content: Any) -> list[dict[str, Any]]:
    if content is None:
        return []
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    return [part for part in content if isinstance(part, dict)]


def image_url_of(part: dict[str, Any]) -> str | None:
    if part.get("type") != "image_url":
        return None
    image = part.get("image_url")
    return image.get("url") if isinstance(image, dict) else image


def parse_data_url(url: str) -> tuple[str, str] | None:
    """(media type, base64 data) of a `data:<type>;base64,<data>` URL, else None."""
    if not url.startswith("data:"):
        return None
    header, _, data = url[5:].partition(",")
    media_type, _, encoding = header.partition(";")
    if encoding != "base64" or not data:
        return None
    return media_type or "application/octet-stream", data


def is_system(message: Message) -> bool:
    return message.get("role") in ("system", "developer")


def system_text(messages: list[Message]) -> str:
    return "\n\n".join(text_of(m.get("content")) for m in messages if is_system(m))


def stop_list(stop: Any) -> list[str]:
    if not stop:
        return []
    return [stop] if isinstance(stop, str) else [s for s in stop if isinstance(s, str)]


def max_tokens_of(body: dict[str, Any]) -> int | None:
    value = body.get("max_completion_tokens") or body.get("max_tokens")
    return int(value) if value else None


def tool_names_by_call_id(messages: list[Message]) -> dict[str, str]:
    """Function names of earlier assistant tool calls, for providers that key results by name."""
    names: dict[str, str] = {}
    for message in messages:
        for call in message.get("tool_calls") or []:
            names[call.get("id", "")] = call.get("function", {}).get("name", "")
    return names


def arguments_object(arguments: Any) -> dict[str, Any]:
    """Tool-call arguments (a JSON string in OpenAI's format) as an object."""
    if isinstance(arguments, dict):
        return arguments
    try:
        parsed = json.loads(arguments or "{}")
    except ValueError:
        return {"input": arguments}
    return parsed if isinstance(parsed, dict) else {"input": parsed}


def function_tools(body: dict[str, Any]) -> list[dict[str, Any]]:
    """The `function` objects of the request's tools."""
    return [
        tool["function"]
        for tool in body.get("tools") or []
        if tool.get("type") == "function" and isinstance(tool.get("function"), dict)
    ]


def forced_tool_name(tool_choice: Any) -> str | None:
    if isinstance(tool_choice, dict):
        return tool_choice.get("function", {}).get("name")
    return None


def embedding_inputs(body: dict[str, Any], provider: str) -> list[str]:
    value = body.get("input")
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return value
    raise UnsupportedOperation(f"{provider} embeddings take text input: a string or strings")


# --- building answers -----------------------------------------------------------------


def usage(prompt_tokens: int | None, completion_tokens: int | None) -> dict[str, int] | None:
    if prompt_tokens is None and completion_tokens is None:
        return None
    prompt, completion = prompt_tokens or 0, completion_tokens or 0
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }


def tool_call(call_id: str, name: str, arguments: Any) -> dict[str, Any]:
    if not isinstance(arguments, str):
        arguments = json.dumps(arguments)
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}


def completion(
    *,
    model: str,
    content: str | None,
    finish_reason: str,
    usage: dict[str, int] | None,
    tool_calls: list[dict[str, Any]] | None = None,
    completion_id: str | None = None,
    created: int | None = None,
) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": content}
    if tool_calls:
        message["tool_calls"] = tool_calls
    return {
        "id": completion_id or new_id(),
        "object": "chat.completion",
        "created": created or now(),
        "model": model,
        "choices": [{"index": 0, "message": message, "finish_reason": finish_reason}],
        "usage": usage,
    }


@dataclass(slots=True)
class ChunkBuilder:
    """Builds the `chat.completion.chunk` dicts of one streamed answer."""

    model: str
    completion_id: str = field(default_factory=new_id)
    created: int = field(default_factory=now)

    def _chunk(self, choices: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
        return {
            "id": self.completion_id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": choices,
            **extra,
        }

    def delta(self, finish_reason: str | None = None, **delta: Any) -> dict[str, Any]:
        return self._chunk([{"index": 0, "delta": delta, "finish_reason": finish_reason}])

    def role(self) -> dict[str, Any]:
        return self.delta(role="assistant", content="")

    def text(self, text: str) -> dict[str, Any]:
        return self.delta(content=text)

    def finish(self, finish_reason: str) -> dict[str, Any]:
        return self.delta(finish_reason=finish_reason)

    def usage(self, usage: dict[str, int]) -> dict[str, Any]:
        return self._chunk([], usage=usage)


def embedding_list(
    model: str,
    vectors: list[list[float]],
    usage_: dict[str, int] | None,
    encoding_format: str | None = None,
) -> dict[str, Any]:
    return {
        "object": "list",
        "data": [
            {"object": "embedding", "index": index, "embedding": encode_vector(v, encoding_format)}
            for index, v in enumerate(vectors)
        ],
        "model": model,
        "usage": usage_,
    }


def embedding_usage(prompt_tokens: int | None) -> dict[str, int] | None:
    if prompt_tokens is None:
        return None
    return {"prompt_tokens": prompt_tokens, "total_tokens": prompt_tokens}


def encode_vector(vector: list[float], encoding_format: str | None) -> list[float] | str:
    """OpenAI's `encoding_format: base64` is little-endian float32, base64-encoded."""
    if encoding_format != "base64":
        return vector
    return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode("ascii")
