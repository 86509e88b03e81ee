"""The OpenAPI document, made true about errors: every operation documents Atrium's error body
for the statuses any route may answer (400 401 403 404 409 422 429; 413 and 415 where a body is
read), the 422 body as it is sent (`detail` a sentence, `errors` the list), and under `/v1`
OpenAI's error body. FastAPI's own 422 schema (`detail` as an array) is removed."""

from typing import Any

from fastapi import FastAPI
from pydantic import BaseModel, ConfigDict

COMMON_ERRORS = {
    400: "The request is invalid",
    401: "Not authenticated: no, an expired or an unknown credential",
    403: "The credential's role or scopes do not allow this",
    404: "No such object, or not the caller's",
    409: "Conflicts with the current state",
    422: "A path, query or body value is invalid",
    429: "A rate, token, budget or login limit was reached",
}
BODY_ERRORS = {
    413: "The request body is larger than allowed",
    415: "The body's content type is not accepted",
}
SERVER_ERRORS = {502, 503, 504}


class ErrorBody(BaseModel):
    """Every error outside `/v1`; some carry more fields (`allowed`, `available_models`, …)."""

    model_config = ConfigDict(extra="allow")
    detail: str
    code: str
    request_id: str | None = None


class ValidationIssue(BaseModel):
    loc: list[str | int]
    msg: str
    type: str


class ValidationErrorBody(ErrorBody):
    """A 422: `detail` names the first bad field, `errors` lists them all."""

    errors: list[ValidationIssue]


class OpenAIError(BaseModel):
    model_config = ConfigDict(extra="allow")
    message: str
    type: str
    param: str | None = None
    code: str | None = None


class OpenAIErrorBody(BaseModel):
    """Errors under `/v1`, in OpenAI's shape."""

    error: OpenAIError


MODELS = (ErrorBody, ValidationIssue, ValidationErrorBody, OpenAIError, OpenAIErrorBody)


def _ref(model: type[BaseModel]) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{model.__name__}"}


def _content(model: type[BaseModel]) -> dict[str, Any]:
    return {"application/json": {"schema": _ref(model)}}


def _document_errors(path: str, operation: dict[str, Any]) -> None:
    responses = operation.setdefault("responses", {})
    openai = path.startswith("/v1/")
    statuses = dict(COMMON_ERRORS)
    if "requestBody" in operation:
        statuses.update(BODY_ERRORS)
    for status, description in statuses.items():
        given = responses.get(str(status), {})
        model = ValidationErrorBody if status == 422 and not openai else ErrorBody
        responses[str(status)] = {
            "description": given.get("description") or description,
            "content": _content(OpenAIErrorBody if openai else model),
        }
    for status in SERVER_ERRORS:
        if str(status) in responses:
            responses[str(status)]["content"] = _content(OpenAIErrorBody if openai else ErrorBody)


def _make_true(document: dict[str, Any]) -> None:
    components = document.setdefault("components", {}).setdefault("schemas", {})
    components.pop("HTTPValidationError", None)
    components.pop("ValidationError", None)
    for model in MODELS:
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        components.update(schema.pop("$defs", {}))
        components[model.__name__] = schema
    for path, operations in document.get("paths", {}).items():
        for operation in operations.values():
            _document_errors(path, operation)


def install(app: FastAPI) -> None:
    """Wrap the document builder installed so far (FastAPI's, with security added)."""
    previous = app.openapi

    def build() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        document = previous()
        _make_true(document)
        app.openapi_schema = document
        return document

    app.openapi = build  # type: ignore[method-assign]
