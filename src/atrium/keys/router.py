"""ForgeTrace's `/api/v1/tokens`: the caller's own API keys, minted as `ftk_…`."""

import secrets
from typing import Annotated

from fastapi import APIRouter, FastAPI, Query, Response

from atrium.db import ReadDep, SessionDep
from atrium.keys import service as keys_service
from atrium.keys.auth import KeysDelete, KeysRead, KeysWrite
from atrium.keys.formats import KeyFormat
from atrium.keys.schemas import Message, TokenCreate, TokenRead, TokenUpdate, token_read
from atrium.params import Cursor, IdPath
from atrium.shapes import json_response

router = APIRouter(prefix="/api/v1/tokens", tags=["api keys"])

FORGETRACE_KEY = KeyFormat("forgetrace", "ftk_", lambda: secrets.token_urlsafe(32))


@router.post("", response_model=TokenRead, status_code=201)
async def create_token(body: TokenCreate, principal: KeysWrite, session: SessionDep) -> dict:
    """Create a key; its full secret is in `token` in this response only."""
    key, secret = await keys_service.create_key(
        session,
        principal,
        name=body.name,
        key_format=FORGETRACE_KEY,
        scopes=keys_service.checked_scopes(principal, body.scopes),
        expires_at=keys_service.expiry_from(body.expires_at, body.expires_in_days),
    )
    return token_read(key, secret)


@router.get("", response_model=list[TokenRead])
async def list_tokens(
    principal: KeysRead,
    connection: ReadDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    cursor: Cursor = None,
) -> Response:
    keys = await keys_service.list_keys(connection, principal, limit=limit, after_id=cursor)
    headers = {"X-Next-Cursor": str(keys[-1].id)} if len(keys) == limit else None
    return json_response([token_read(key) for key in keys], headers)


@router.get("/{token_id}", response_model=TokenRead)
async def read_token(token_id: IdPath, principal: KeysRead, connection: ReadDep) -> Response:
    return json_response(token_read(await keys_service.read_key(connection, principal, token_id)))


@router.patch("/{token_id}", response_model=TokenRead)
async def update_token(
    token_id: IdPath, body: TokenUpdate, principal: KeysWrite, session: SessionDep
) -> dict:
    changes = body.model_dump(exclude_unset=True)
    return token_read(await keys_service.update_key(session, principal, token_id, changes))


@router.delete("/{token_id}", response_model=Message)
async def revoke_token(token_id: IdPath, principal: KeysDelete, session: SessionDep) -> dict:
    await keys_service.revoke_key(session, principal, token_id)
    return {"message": "Token revoked"}


@router.post("/{token_id}/refresh", response_model=Message)
async def refresh_token_use(token_id: IdPath, principal: KeysWrite, session: SessionDep) -> dict:
    """Record that the key was used now (ForgeTrace's `refresh`)."""
    await keys_service.mark_used(session, principal, token_id)
    return {"message": "Token refreshed"}


def setup(app: FastAPI) -> None:
    app.state.key_formats.register(FORGETRACE_KEY)
