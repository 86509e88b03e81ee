"""Google Gemini API: generateContent, streamGenerateContent?alt=sse, models, embeddings."""

import mimetypes
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx

from atrium.outbound.http import (
    api_root,
    collect_pages,
    expect_object,
    iter_sse,
    open_stream,
    parse_json,
    raise_stream_error,
    send,
)
from atrium.providers.adapters import shapes
from atrium.providers.adapters.base import ProviderTarget, UpstreamError

API_VERSION = "/v1beta"
BLOCKED = "content_filter"
FINISH_REASONS = {
    "STOP": "stop",
    "MAX_TOKENS": "length",
    "SAFETY": BLOCKED,
    "RECITATION": BLOCKED,
    "BLOCKLIST": BLOCKED,
    "PROHIBITED_CONTENT": BLOCKED,
    "SPII": BLOCKED,
    "IMAGE_SAFETY": BLOCKED,
}
TOOL_MODES = {"auto": "AUTO", "required": "ANY", "none": "NONE"}
GENERATION_FIELDS = {
    "temperature": "temperature",
    "top_p": "topP",
    "top_k": "topK",
    "seed": "seed",
    "presence_penalty": "presencePenalty",
    "frequency_penalty": "frequencyPenalty",
}


def _url(target: ProviderTarget, path: str) -> str:
    return api_root(target.api_base, API_VERSION, "/v1") + API_VERSION + path


def _model_path(model: str) -> str:
    return "models/" + model.removeprefix("models/")


def _headers(target: ProviderTarget) -> dict[str, str]:
    return {"x-goog-api-key": target.api_key} if target.api_key else {}


# --- request --------------------------------------------------------------------------


def generate_request(body: dict[str, Any]) -> dict[str, Any]:
    """An OpenAI chat request as a Gemini GenerateContentRequest."""
    messages = body.get("messages") or []
    request: dict[str, Any] = {"contents": _contents(messages)}
    if system := shapes.system_text(messages):
        request["systemInstruction"] = {"parts": [{"text": system}]}
    if config := _generation_config(body):
        request["generationConfig"] = config
    if tools := shapes.function_tools(body):
        request["tools"] = [{"functionDeclarations": [_declaration(f) for f in tools]}]
    if tool_config := _tool_config(body.get("tool_choice")):
        request["toolConfig"] = tool_config
    return request


def _contents(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    names = shapes.tool_names_by_call_id(messages)
    contents: list[dict[str, Any]] = []
    previous_role = None
    for message in messages:
        role = message.get("role")
        if shapes.is_system(message):
            continue
        if role == "tool":
            part = _function_response(message, names)
            # answers to parallel calls travel together in one turn
            if previous_role == "tool":
                contents[-1]["parts"].append(part)
            else:
                contents.append({"role": "user", "parts": [part]})
        elif role == "assistant":
            contents.append({"role": "model", "parts": _model_parts(message)})
        else:
            parts = [_user_part(p) for p in shapes.content_parts(message.get("content"))]
            contents.append({"role": "user", "parts": parts or [{"text": ""}]})
        previous_role = role
    return contents


def _user_part(part: dict[str, Any]) -> dict[str, Any]:
    url = shapes.image_url_of(part)
    if url is None:
        return {"text": part.get("text", "")}
    if data := shapes.parse_data_url(url):
        media_type, encoded = data
        return {"inlineData": {"mimeType": media_type, "data": encoded}}
    guessed, _ = mimetypes.guess_type(urlsplit(url).path)
    return {"fileData": {"mimeType": guessed or "image/jpeg", "fileUri": url}}


def _model_parts(message: dict[str, Any]) -> list[dict[str, Any]]:
    text = shapes.text_of(message.get("content"))
    calls = message.get("tool_calls") or []
    parts: list[dict[str, Any]] = [{"text": text}] if text or not calls else []
    for call in calls:
        function = call.get("function", {})
        args = shapes.arguments_object(function.get("arguments"))
        parts.append({"functionCall": {"name": function.get("name"), "args": args}})
    return parts


def _function_response(message: dict[str, Any], names: dict[str, str]) -> dict[str, Any]:
    name = message.get("name") or names.get(message.get("tool_call_id", ""), "")
    response = shapes.arguments_object(shapes.text_of(message.get("content")))
    return {"functionResponse": {"name": name, "response": response}}


def _generation_config(body: dict[str, Any]) -> dict[str, Any]:
    config = {
        gemini: body[openai]
        for openai, gemini in GENERATION_FIELDS.items()
        if body.get(openai) is not None
    }
    if max_tokens := shapes.max_tokens_of(body):
        config["maxOutputTokens"] = max_tokens
    if stop := shapes.stop_list(body.get("stop")):
        config["stopSequences"] = stop
    response_format = body.get("response_format") or {}
    if response_format.get("type") in ("json_object", "json_schema"):
        config["responseMimeType"] = "application/json"
    return config


def _declaration(function: dict[str, Any]) -> dict[str, Any]:
    declaration = {"name": function.get("name"), "description": function.get("description", "")}
    if function.get("parameters"):
        declaration["parameters"] = function["parameters"]
    return declaration


def _tool_config(choice: Any) -> dict[str, Any] | None:
    if name := shapes.forced_tool_name(choice):
        return {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": [name]}}
    mode = TOOL_MODES.get(choice) if isinstance(choice, str) else None
    return {"functionCallingConfig": {"mode": mode}} if mode else None


# --- answers --------------------------------------------------------------------------


def _usage(metadata: Any) -> dict[str, int] | None:
    if not isinstance(metadata, dict):
        return None
    # thinking tokens are billed as output
    output = (metadata.get("candidatesTokenCount") or 0) + (metadata.get("thoughtsTokenCount") or 0)
    return shapes.usage(metadata.get("promptTokenCount") or 0, output)


def _first_candidate(reply: dict[str, Any]) -> dict[str, Any]:
    candidates = reply.get("candidates") or []
    return candidates[0] if candidates and isinstance(candidates[0], dict) else {}


def _parts(candidate: dict[str, Any]) -> list[dict[str, Any]]:
    return (candidate.get("content") or {}).get("parts") or []


def _text(parts: list[dict[str, Any]]) -> str:
    return "".join(p.get("text", "") for p in parts if "text" in p and not p.get("thought"))


def _calls(parts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    calls = [p["functionCall"] for p in parts if isinstance(p.get("functionCall"), dict)]
    return [
        shapes.tool_call(shapes.new_id("call"), call.get("name", ""), call.get("args") or {})
        for call in calls
    ]


def _finish_reason(reply: dict[str, Any], candidate: dict[str, Any], has_calls: bool) -> str:
    if not candidate and (reply.get("promptFeedback") or {}).get("blockReason"):
        return BLOCKED
    if has_calls:
        return "tool_calls"
    return FINISH_REASONS.get(candidate.get("finishReason"), "stop")


def _completion(reply: Any, target: ProviderTarget, model: str) -> dict[str, Any]:
    reply = expect_object(reply, target, "generateContent reply")
    candidate = _first_candidate(reply)
    parts = _parts(candidate)
    calls = _calls(parts)
    text = _text(parts)
    return shapes.completion(
        model=reply.get("modelVersion") or model,
        content=text if text or not calls else None,
        finish_reason=_finish_reason(reply, candidate, bool(calls)),
        usage=_usage(reply.get("usageMetadata")),
        tool_calls=calls or None,
        completion_id=reply.get("responseId"),
    )


@dataclass(slots=True)
class _StreamTranslator:
    """Turns streamed GenerateContentResponse objects into OpenAI chunks."""

    chunks: shapes.ChunkBuilder
    usage: dict[str, int] | None = None
    tool_calls: int = 0
    started: bool = False
    finished: bool = False

    def feed(self, reply: dict[str, Any]) -> list[dict[str, Any]]:
        out = [] if self.started else [self.chunks.role()]
        self.started = True
        candidate = _first_candidate(reply)
        parts = _parts(candidate)
        if text := _text(parts):
            out.append(self.chunks.text(text))
        for call in _calls(parts):
            out.append(self.chunks.delta(tool_calls=[{**call, "index": self.tool_calls}]))
            self.tool_calls += 1
        if reply.get("usageMetadata"):
            self.usage = _usage(reply["usageMetadata"])
        blocked = not candidate and reply.get("promptFeedback")
        if candidate.get("finishReason") or blocked:
            out.append(self.chunks.finish(_finish_reason(reply, candidate, self.tool_calls > 0)))
            self.finished = True
        return out

    def close(self) -> list[dict[str, Any]]:
        out = [] if self.finished else [self.chunks.finish("stop")]
        return out + ([self.chunks.usage(self.usage)] if self.usage else [])


class GoogleAdapter:
    async def chat(
        self, client: httpx.AsyncClient, target: ProviderTarget, body: dict[str, Any]
    ) -> dict[str, Any]:
        model = body.get("model", "")
        reply = await send(
            client,
            target,
            "POST",
            _url(target, f"/{_model_path(model)}:generateContent"),
            json=generate_request(body),
            headers=_headers(target),
        )
        return _completion(reply, target, model)

    async def stream_chat(
        self, client: httpx.AsyncClient, target: ProviderTarget, body: dict[str, Any]
    ) -> AsyncIterator[dict[str, Any]]:
        model = body.get("model", "")
        url = _url(target, f"/{_model_path(model)}:streamGenerateContent?alt=sse")
        translator = _StreamTranslator(shapes.ChunkBuilder(model))
        async with open_stream(
            client, target, "POST", url, json=generate_request(body), headers=_headers(target)
        ) as response:
            async for event in iter_sse(response):
                payload = parse_json(event.data, target)
                if not isinstance(payload, dict) or "error" in payload:
                    raise_stream_error(target, payload)
                for chunk in translator.feed(payload):
                    yield chunk
        if not translator.started:
            raise UpstreamError(f"{target.type} provider closed the stream without an answer")
        for chunk in translator.close():
            yield chunk

    async def list_models(self, client: httpx.AsyncClient, target: ProviderTarget) -> list[str]:
        async def fetch_page(token: str | None) -> tuple[list[str], str | None]:
            params = {"pageSize": 1000, **({"pageToken": token} if token else {})}
            reply = await send(
                client,
                target,
                "GET",
                _url(target, "/models"),
                params=params,
                headers=_headers(target),
            )
            reply = expect_object(reply, target, "model list")
            names = [m["name"].removeprefix("models/") for m in reply.get("models") or []]
            return names, reply.get("nextPageToken")

        return await collect_pages(fetch_page)

    async def embeddings(
        self, client: httpx.AsyncClient, target: ProviderTarget, body: dict[str, Any]
    ) -> dict[str, Any]:
        model = body.get("model", "")
        requests = [
            _embed_request(model, text, body.get("dimensions"))
            for text in shapes.embedding_inputs(body, target.type)
        ]
        reply = await send(
            client,
            target,
            "POST",
            _url(target, f"/{_model_path(model)}:batchEmbedContents"),
            json={"requests": requests},
            headers=_headers(target),
        )
        embeddings = expect_object(reply, target, "embeddings reply").get("embeddings")
        if not isinstance(embeddings, list):
            raise UpstreamError(f"{target.type} provider sent an unexpected embeddings reply")
        vectors = [item.get("values") or [] for item in embeddings]
        return shapes.embedding_list(model, vectors, None, body.get("encoding_format"))


def _embed_request(model: str, text: str, dimensions: int | None) -> dict[str, Any]:
    request: dict[str, Any] = {"model": _model_path(model), "content": {"parts": [{"text": text}]}}
    if dimensions:
        request["outputDimensionality"] = dimensions
    return request
