"""Authenticating a WebSocket: every WebSocket route starts with `websocket_principal`.

Browsers cannot set headers on a WebSocket, so besides `Authorization: Bearer` (and
`X-API-Key`) the credential may come as a subprotocol (`Sec-WebSocket-Protocol: bearer,
<token>`, or one entry `bearer.<token>`) or as `?token=` (the Vault frontend). The query
credential is removed from the scope once read, so nothing downstream logs it. A refused
socket is accepted and closed at once with 4401 (unauthenticated) or 4403 (forbidden), so
that the client sees the code rather than a failed handshake.
"""

from urllib.parse import parse_qsl, urlencode

from starlette.websockets import WebSocket

from atrium.auth.deps import authenticate
from atrium.auth.principal import Principal
from atrium.errors import AtriumError

CLOSE_UNAUTHENTICATED = 4401
CLOSE_FORBIDDEN = 4403
CLOSE_NOT_FOUND = 4404
QUERY_NAMES = ("token", "access_token")


def _from_subprotocols(protocols: list[str]) -> tuple[str | None, str | None]:
    """(credential, the subprotocol to answer with)."""
    for index, protocol in enumerate(protocols):
        lowered = protocol.lower()
        if lowered == "bearer" and index + 1 < len(protocols):
            return protocols[index + 1], protocol
        for prefix in ("bearer.", "access_token."):
            if lowered.startswith(prefix) and len(protocol) > len(prefix):
                return protocol[len(prefix) :], protocol
    return None, None


def _take_query_token(websocket: WebSocket) -> str | None:
    query = websocket.scope.get("query_string", b"").decode("latin-1")
    if not query:
        return None
    pairs = parse_qsl(query, keep_blank_values=True)
    found = next((value for name, value in pairs if name in QUERY_NAMES and value), None)
    if found is not None:
        kept = [(name, value) for name, value in pairs if name not in QUERY_NAMES]
        websocket.scope["query_string"] = urlencode(kept).encode("latin-1")
    return found


def credential_of(websocket: WebSocket) -> tuple[str | None, str | None]:
    """(credential, subprotocol to accept with) from header, subprotocol or query."""
    headers = websocket.headers
    authorization = headers.get("authorization", "")
    scheme, _, value = authorization.partition(" ")
    query_token = _take_query_token(websocket)
    protocols = [p.strip() for p in headers.get("sec-websocket-protocol", "").split(",")]
    from_protocol, subprotocol = _from_subprotocols([p for p in protocols if p])
    if scheme.lower() == "bearer" and value.strip():
        return value.strip(), subprotocol
    return headers.get("x-api-key") or from_protocol or query_token, subprotocol


async def websocket_principal(
    websocket: WebSocket, resource: str | None = None, action: str = "read"
) -> Principal | None:
    """The caller, or None after closing the socket with 4401/4403."""
    credential, subprotocol = credential_of(websocket)
    websocket.scope.setdefault("state", {})
    principal = None
    if credential:
        try:
            principal = await authenticate(websocket, credential)  # type: ignore[arg-type]
        except AtriumError:
            principal = None
    if principal is None:
        await refuse(websocket, CLOSE_UNAUTHENTICATED, "not authenticated", subprotocol)
        return None
    if resource is not None and not principal.can(resource, action):
        await refuse(websocket, CLOSE_FORBIDDEN, "forbidden", subprotocol)
        return None
    websocket.scope["state"]["ws_subprotocol"] = subprotocol
    return principal


async def accept(websocket: WebSocket) -> None:
    """Accept with the subprotocol the credential came in, if any."""
    subprotocol = websocket.scope.get("state", {}).get("ws_subprotocol")
    await websocket.accept(subprotocol=subprotocol)


async def refuse(
    websocket: WebSocket, code: int, reason: str, subprotocol: str | None = None
) -> None:
    await websocket.accept(subprotocol=subprotocol)
    await websocket.close(code=code, reason=reason)
