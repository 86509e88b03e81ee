"""Who may upload, read and delete files: the `files` resource."""

from typing import Annotated

from fastapi import Depends, Query, Request

from atrium.auth.deps import credential_of, require
from atrium.auth.principal import Principal

FilesRead = Annotated[Principal, Depends(require("files", "read"))]
FilesWrite = Annotated[Principal, Depends(require("files", "write"))]
FilesDelete = Annotated[Principal, Depends(require("files", "delete"))]

_files_read = require("files", "read")


async def signed_or_authenticated(
    request: Request,
    exp: Annotated[int | None, Query(description="Expiry of a signed link")] = None,
    sig: Annotated[str | None, Query(description="Signature of a signed link")] = None,
) -> Principal | None:
    """A signed link (`exp` and `sig` from `file_path`) needs no header; otherwise the caller
    authenticates as on any route and needs files:read."""
    credential = credential_of(request)
    if exp is not None and sig is not None and not credential:
        return None
    return await _files_read(request, credential)


signed_or_authenticated.permission = ("files", "read")  # type: ignore[attr-defined]
Downloader = Annotated[Principal | None, Depends(signed_or_authenticated)]
