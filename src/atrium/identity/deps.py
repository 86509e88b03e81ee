"""What a sign-in route needs from the request: the login body (JSON or form), the client's
address and the login throttle. Every surface's login route uses these."""

from typing import Annotated, Any

import orjson
from fastapi import Depends, Request
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError

from atrium.errors import BadRequest, UnsupportedMediaType
from atrium.identity.schemas import LoginRequest
from atrium.security.throttle import ClientAddress, LoginThrottle, RedisLoginThrottle

# the body is read by `read_login_body`, so the OpenAPI document is given it here
LOGIN_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": LoginRequest.model_json_schema()},
            "application/x-www-form-urlencoded": {"schema": LoginRequest.model_json_schema()},
        },
    }
}


async def read_login_body(request: Request) -> LoginRequest:
    """JSON, or a form: a form body that starts with `{` is JSON (seed 003's curl -d)."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    raw = await request.body()
    if content_type in ("", "application/json") or (
        content_type == "application/x-www-form-urlencoded" and raw.lstrip().startswith(b"{")
    ):
        try:
            data: Any = orjson.loads(raw or b"null")
        except orjson.JSONDecodeError:
            raise BadRequest("The body is not valid JSON") from None
    elif content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
        data = dict(await request.form())
    else:
        raise UnsupportedMediaType()
    if not isinstance(data, dict):
        raise BadRequest("The body must be a JSON object")
    try:
        return LoginRequest.model_validate(data)
    except ValidationError as exc:
        raise RequestValidationError(
            [{**error, "loc": ("body", *error["loc"])} for error in exc.errors()]
        ) from None


def client_address(request: Request) -> str:
    """The caller's address; `X-Forwarded-For` counts only from a trusted proxy."""
    resolver: ClientAddress = request.app.state.client_address
    peer = request.client.host if request.client else None
    return resolver.resolve(peer, request.headers.get("x-forwarded-for"))


def login_throttle(request: Request) -> LoginThrottle | RedisLoginThrottle:
    return request.app.state.login_throttle


LoginBody = Annotated[LoginRequest, Depends(read_login_body)]
ClientAddressDep = Annotated[str, Depends(client_address)]
Throttle = Annotated[LoginThrottle | RedisLoginThrottle, Depends(login_throttle)]
