"""/v1: the OpenAI-compatible surface (seed 000 Rev 1).

Bodies are parsed and answers serialised with orjson, and stream chunks are relayed as SSE
bytes as they arrive; errors take OpenAI's shape so that its SDKs raise the right exception.
"""

from collections.abc import AsyncIterator
from typing import Any

import orjson
from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import Response, StreamingResponse

from atrium.errors import OPENAI_ERROR_TYPES, AtriumError
from atrium.gateway.auth import LlmExecute, LlmRead
from atrium.gateway.errors import MalformedRequest, NoProviderConfigured, ProviderDisabled
from atrium.gateway.schemas import ModelList
from atrium.gateway.service import Gateway
from atrium.providers import service as providers_service

router = APIRouter(prefix="/v1", tags=["openai compatible"])
JSON = "application/json"
DONE = b"data: [DONE]\n\n"
ERROR_BODY = {
    "description": "OpenAI-shaped error",
    "content": {
        JSON: {"example": {"error": {"message": "…", "type": "…", "param": None, "code": "…"}}}
    },
}
RESPONSES = {code: ERROR_BODY for code in (400, 401, 403, 404, 429, 502, 503, 504)}
# The handlers read the body themselves (raw bytes, orjson; malformed bodies are OpenAI's 400),
# so the bodies and answers are declared here for the OpenAPI document.
MAX_INT = 2**31 - 1
MESSAGE = {
    "type": "object",
    "required": ["role"],
    "properties": {
        "role": {"type": "string", "enum": ["system", "developer", "user", "assistant", "tool"]},
        "content": {
            "anyOf": [
                {"type": "string"},
                {"type": "array", "items": {"type": "object"}},
                {"type": "null"},
            ]
        },
        "name": {"type": "string"},
    },
}
CHAT_REQUEST = {
    "type": "object",
    "required": ["messages"],
    "properties": {
        "model": {"type": "string", "description": "`provider/model` or a model id"},
        "messages": {"type": "array", "minItems": 1, "items": MESSAGE},
        "stream": {"type": "boolean"},
        "stream_options": {"type": "object"},
        "temperature": {"type": "number", "minimum": 0, "maximum": 2},
        "top_p": {"type": "number", "minimum": 0, "maximum": 1},
        "max_tokens": {"type": "integer", "minimum": 1, "maximum": MAX_INT},
        "stop": {"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]},
        "tools": {"type": "array", "items": {"type": "object"}},
    },
}
CHAT_RESPONSE = {
    "type": "object",
    "required": ["id", "object", "created", "model", "choices"],
    "properties": {
        "id": {"type": "string"},
        "object": {"type": "string"},
        "created": {"type": "integer"},
        "model": {"type": "string"},
        "choices": {"type": "array", "items": {"type": "object"}},
        "usage": {"type": "object"},
    },
}
EMBEDDINGS_REQUEST = {
    "type": "object",
    "required": ["input"],
    "properties": {
        "model": {"type": "string"},
        "input": {
            "anyOf": [
                {"type": "string"},
                {"type": "array", "items": {"type": "string"}, "minItems": 1},
            ]
        },
        "encoding_format": {"type": "string", "enum": ["float", "base64"]},
        "dimensions": {"type": "integer", "minimum": 1, "maximum": MAX_INT},
    },
}
EMBEDDINGS_RESPONSE = {
    "type": "object",
    "required": ["object", "data", "model"],
    "properties": {
        "object": {"type": "string", "enum": ["list"]},
        "data": {"type": "array", "items": {"type": "object"}},
        "model": {"type": "string"},
        "usage": {"type": "object"},
    },
}


def _json_body(schema: dict[str, Any]) -> dict[str, Any]:
    return {"requestBody": {"required": True, "content": {JSON: {"schema": schema}}}}


def _answers(schema: dict[str, Any], stream: bool = False) -> dict[int | str, Any]:
    content: dict[str, Any] = {JSON: {"schema": schema}}
    if stream:
        content["text/event-stream"] = {"schema": {"type": "string"}}
    return {200: {"description": "OK", "content": content}, **RESPONSES}


def openai_status(exc: AtriumError) -> tuple[int, str]:
    if isinstance(exc, MalformedRequest):
        return 400, exc.code
    if isinstance(exc, ProviderDisabled | NoProviderConfigured):
        # OpenAI answers a model it does not serve with 404, whether or not providers exist
        return 404, "model_not_found"
    return exc.status_code, exc.code


def openai_error_body(exc: AtriumError) -> dict[str, Any]:
    status, code = openai_status(exc)
    return {
        "error": {
            "message": exc.detail,
            "type": OPENAI_ERROR_TYPES.get(status, "api_error"),
            "param": exc.extra.get("param"),
            "code": code,
        }
    }


def openai_error(exc: AtriumError) -> Response:
    status, _code = openai_status(exc)
    headers = dict(exc.headers or {})
    if exc.code in ("budget_exceeded", "plan_quota_exceeded"):
        headers["x-should-retry"] = "false"  # retrying cannot help until next month
    return Response(orjson.dumps(openai_error_body(exc)), status, headers, media_type=JSON)


async def read_json(request: Request) -> Any:
    raw = await request.body()
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None  # the gateway reports it (and meters it) as a malformed request


def _sse(chunk: dict[str, Any]) -> bytes:
    return b"data: " + orjson.dumps(chunk) + b"\n\n"


async def _relay(first: bytes | None, pieces: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    try:
        if first is not None:
            yield first
            async for piece in pieces:
                yield piece
        yield DONE
    except AtriumError as exc:
        # after the first byte the status is sent: an error event, and no [DONE]
        yield _sse(openai_error_body(exc))
    finally:
        await pieces.aclose()  # type: ignore[attr-defined]


# the answer is serialised here (orjson); the model documents it
@router.get("/models", response_model=ModelList, responses=RESPONSES)
async def list_models(principal: LlmRead, request: Request) -> Response:
    gateway = request.app.state.gateway
    data = [
        {
            "id": model,
            "object": "model",
            "created": entry.created,
            "owned_by": entry.name,
            "name": model,
            "context_window": entry.model_info(model).get("context_window"),
            "supports_vision": entry.model_info(model).get("supports_vision"),
            "type": "embedding" if "embed" in model.lower() else "chat",
            "status": providers_service.model_status(entry),
        }
        for model, entry in await gateway.models(principal)
    ]
    return Response(orjson.dumps({"object": "list", "data": data}), media_type=JSON)


@router.post(
    "/chat/completions",
    responses=_answers(CHAT_RESPONSE, stream=True),
    openapi_extra=_json_body(CHAT_REQUEST),
    description="OpenAI's chat completions; with `stream: true`, Server-Sent Events.",
)
async def create_chat_completion(principal: LlmExecute, request: Request) -> Response:
    gateway = request.app.state.gateway
    body = await read_json(request)
    if isinstance(body, dict) and body.get("stream") is True:
        pieces = gateway.stream_sse(principal, body, origin="v1")
        try:
            first = await anext(pieces, None)
        except AtriumError as exc:
            return openai_error(exc)
        return StreamingResponse(
            _relay(first, pieces),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )
    try:
        reply = await gateway.complete_json(principal, body, origin="v1")
    except AtriumError as exc:
        return openai_error(exc)
    return Response(reply, media_type=JSON)


@router.post(
    "/embeddings",
    responses=_answers(EMBEDDINGS_RESPONSE),
    openapi_extra=_json_body(EMBEDDINGS_REQUEST),
)
async def create_embeddings(principal: LlmExecute, request: Request) -> Response:
    gateway = request.app.state.gateway
    body = await read_json(request)
    try:
        reply = await gateway.embeddings(principal, body, origin="v1")
    except AtriumError as exc:
        return openai_error(exc)
    return Response(orjson.dumps(reply), media_type=JSON)


def setup(app: FastAPI) -> None:
    gateway = Gateway(app.state)
    app.state.gateway = gateway
    app.state.provider_probe = gateway.probe  # a provider's test is sent and metered here

    async def start(_app: FastAPI) -> None:
        gateway.start()

    app.state.startup_hooks.append(start)
