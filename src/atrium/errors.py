"""One error model: AtriumError subclasses rendered as {"detail", "code", "request_id"}."""

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse, Response

log = logging.getLogger("atrium.errors")


class AtriumError(Exception):
    status_code = 400
    code = "bad_request"
    detail = "Invalid input data"

    def __init__(
        self, detail: str | None = None, *, headers: dict[str, str] | None = None, **extra: Any
    ) -> None:
        self.detail = detail or type(self).detail
        self.headers = headers
        self.extra = extra
        super().__init__(self.detail)


class BadRequest(AtriumError):
    pass


class Unauthorized(AtriumError):
    status_code = 401
    code = "not_authenticated"
    detail = "Could not validate credentials"


class Forbidden(AtriumError):
    status_code = 403
    code = "forbidden"
    detail = "Not enough permissions"


class NotFound(AtriumError):
    status_code = 404
    code = "not_found"
    detail = "Resource not found"


class Conflict(AtriumError):
    status_code = 409
    code = "conflict"
    detail = "The request conflicts with the current state"


class PayloadTooLarge(AtriumError):
    status_code = 413
    code = "payload_too_large"
    detail = "The request body is larger than allowed"


class UnsupportedMediaType(AtriumError):
    status_code = 415
    code = "unsupported_media_type"
    detail = "Send the body as application/json"


class Unprocessable(AtriumError):
    """A 422 raised by a check of our own; its body lists `errors` like a validation error's,
    naming `field` when the check is about one."""

    status_code = 422
    code = "validation_error"
    field: str | None = None


class NulCharacter(Unprocessable):
    code = "validation_error"
    detail = "Text must not contain NUL characters (\\u0000)"


class TooManyRequests(AtriumError):
    status_code = 429
    code = "rate_limited"
    detail = "Too many requests; retry later"


class BadGateway(AtriumError):
    status_code = 502
    code = "upstream_error"
    detail = "The upstream provider failed"


class ServiceUnavailable(AtriumError):
    status_code = 503
    code = "service_unavailable"
    detail = "The service is not available"


class GatewayTimeout(AtriumError):
    status_code = 504
    code = "upstream_timeout"
    detail = "The upstream provider did not answer in time"


OPENAI_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "invalid_request_error",
    409: "invalid_request_error",
    413: "invalid_request_error",
    415: "invalid_request_error",
    422: "invalid_request_error",
    429: "rate_limit_error",
}


def request_id_of(request: Request) -> str | None:
    return request.scope.get("state", {}).get("request_id")


def error_body(
    path: str,
    status: int,
    code: str,
    detail: str,
    request_id: str | None,
    *,
    extra: dict[str, Any] | None = None,
    param: str | None = None,
) -> dict[str, Any]:
    if path.startswith("/v1/"):
        return {
            "error": {
                "message": detail,
                "type": OPENAI_ERROR_TYPES.get(status, "api_error"),
                "param": param,
                "code": code,
            }
        }
    body = {"detail": detail, "code": code, "request_id": request_id}
    if extra:
        body.update(extra)
    return body


def error_response(
    request: Request,
    status: int,
    code: str,
    detail: str,
    *,
    headers: dict[str, str] | None = None,
    extra: dict[str, Any] | None = None,
    param: str | None = None,
) -> Response:
    body = error_body(
        request.url.path, status, code, detail, request_id_of(request), extra=extra, param=param
    )
    return JSONResponse(body, status_code=status, headers=headers)


def unprocessable_errors(exc: AtriumError) -> list[dict[str, Any]]:
    field = getattr(exc, "field", None)
    location = ["body", field] if field else ["body"]
    return [{"loc": location, "msg": exc.detail, "type": exc.code}]


def _location(loc: tuple[Any, ...]) -> str:
    parts = [str(part) for part in loc if part not in ("body", "query", "path", "header")]
    return ".".join(parts) or str(loc[0] if loc else "body")


def _is_wrong_content_type(request: Request, exc: RequestValidationError) -> bool:
    content_type = request.headers.get("content-type", "")
    if not content_type or "json" in content_type:
        return False
    return any(tuple(error.get("loc", ())) == ("body",) for error in exc.errors())


async def handle_atrium_error(request: Request, exc: AtriumError) -> Response:
    extra = exc.extra
    if exc.status_code == 422 and "errors" not in extra:
        extra = {**extra, "errors": unprocessable_errors(exc)}
    return error_response(
        request,
        exc.status_code,
        exc.code,
        exc.detail,
        headers=exc.headers,
        extra=extra,
        param=getattr(exc, "field", None),
    )


async def handle_validation_error(request: Request, exc: RequestValidationError) -> Response:
    if _is_wrong_content_type(request, exc):
        return error_response(request, 415, UnsupportedMediaType.code, UnsupportedMediaType.detail)
    errors = [
        {"loc": list(error["loc"]), "msg": error["msg"], "type": error["type"]}
        for error in exc.errors()
    ]
    first = errors[0] if errors else {"loc": ["body"], "msg": "Invalid input"}
    location = _location(tuple(first["loc"]))
    detail = f"{location}: {first['msg']}"
    return error_response(
        request, 422, "validation_error", detail, extra={"errors": errors}, param=location
    )


async def handle_http_exception(request: Request, exc: StarletteHTTPException) -> Response:
    if isinstance(exc.__cause__, AtriumError):
        # raised while FastAPI read the body (over the size limit, a NUL): FastAPI reports any
        # such failure as a 400 "error parsing the body"; the cause says what it was
        return await handle_atrium_error(request, exc.__cause__)
    codes = {404: ("not_found", "Resource not found"), 405: ("method_not_allowed", None)}
    code, default = codes.get(exc.status_code, ("http_error", None))
    detail = exc.detail if isinstance(exc.detail, str) else default or "Request failed"
    if exc.status_code == 404 and detail == "Not Found":
        detail = "Resource not found"
    return error_response(request, exc.status_code, code, detail, headers=exc.headers)


async def handle_unexpected(request: Request, exc: Exception) -> Response:
    log.exception(
        "unhandled error", extra={"request_id": request_id_of(request), "path": request.url.path}
    )
    return error_response(request, 500, "internal_error", "An unexpected error occurred")


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(AtriumError, handle_atrium_error)
    app.add_exception_handler(RequestValidationError, handle_validation_error)
    app.add_exception_handler(StarletteHTTPException, handle_http_exception)
    app.add_exception_handler(Exception, handle_unexpected)
