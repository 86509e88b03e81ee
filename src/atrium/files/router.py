"""Seed 004's `POST /api/v1/upload` and the file library `/api/v1/files`."""

import logging
import re
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, FastAPI, Query, Request, Response
from fastapi.responses import StreamingResponse
from sqlalchemy.ext.asyncio import AsyncSession

from atrium.db import ReadDep, SessionDep
from atrium.errors import AtriumError
from atrium.files import service as files_service
from atrium.files.auth import Downloader, FilesDelete, FilesRead, FilesWrite
from atrium.files.schemas import FileDeleted, FileRead
from atrium.files.storage import make_storage
from atrium.files.tables import StoredFile
from atrium.files.upload import file_part
from atrium.shapes import json_response

log = logging.getLogger("atrium.files")

router = APIRouter(prefix="/api/v1", tags=["files"])

NOT_FOUND = {404: {"description": "No such file, or not the caller's"}}


class RangeNotSatisfiable(AtriumError):
    status_code = 416
    code = "range_not_satisfiable"
    detail = "The requested byte range is outside the file"


def _files_key(request: Request) -> bytes:
    """The key that signs download links."""
    return request.app.state.secrets.derive("files")


def file_read(request: Request, file: StoredFile) -> FileRead:
    return files_service.describe(_files_key(request), file)


UPLOAD_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {"file": {"type": "string", "format": "binary"}},
                }
            }
        },
    }
}


@router.post(
    "/upload",
    response_model=FileRead,
    status_code=201,
    openapi_extra=UPLOAD_BODY,
    responses={
        403: {"description": "Storage quota used up (`quota_exceeded`)"},
        413: {"description": "Larger than the upload limit"},
        415: {"description": "Not multipart/form-data"},
    },
    description="Upload one file in the form field `file` (any type). The body streams to "
    "storage; the type is sniffed from the content. `file_path` is a signed download URL.",
)
async def upload_file(request: Request, principal: FilesWrite, session: SessionDep) -> FileRead:
    filename, chunks = await file_part(request)
    file = await files_service.store_upload(
        session,
        principal,
        request.app.state.storage,
        request.app.state.settings,
        filename=filename,
        chunks=chunks,
    )
    return file_read(request, file)


@router.get(
    "/files",
    response_model=list[FileRead],
    description="The caller's files, newest first (default 100, at most 1,000 a page; the "
    "next page's cursor in `X-Next-Cursor`).",
)
async def list_files(
    request: Request,
    principal: FilesRead,
    connection: ReadDep,
    limit: Annotated[int | None, Query(ge=1, le=1000)] = None,
    cursor: Annotated[int | None, Query(ge=0, description="From X-Next-Cursor")] = None,
) -> Response:
    files, next_before = await files_service.read_page(
        connection, principal, limit=limit, before_id=cursor
    )
    key = _files_key(request)
    headers = {"X-Next-Cursor": str(next_before)} if next_before is not None else None
    return json_response([files_service.file_fields(key, file) for file in files], headers)


@router.get("/files/{file_id}", response_model=FileRead, responses=NOT_FOUND)
async def read_file(
    request: Request, file_id: int, principal: FilesRead, connection: ReadDep
) -> Response:
    file = await files_service.read_owned(connection, principal, file_id)
    return json_response(files_service.file_fields(_files_key(request), file))


@router.delete("/files/{file_id}", response_model=FileDeleted, responses=NOT_FOUND)
async def delete_file(
    request: Request, file_id: int, principal: FilesDelete, session: SessionDep
) -> FileDeleted:
    await files_service.delete(session, principal, request.app.state.storage, file_id)
    return FileDeleted(id=str(file_id))


def _byte_range(header: str | None, size: int) -> tuple[int, int] | None:
    """One `bytes=` range as (first, last); None for the whole file (several ranges too)."""
    if not header:
        return None
    match = re.fullmatch(r"\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*", header)
    if match is None:
        return None
    first, last = match.groups()
    if not first and not last:
        return None
    if not first:
        length = int(last)
        if length == 0:
            raise RangeNotSatisfiable(headers={"Content-Range": f"bytes */{size}"})
        return max(size - length, 0), size - 1
    start = int(first)
    end = min(int(last), size - 1) if last else size - 1
    if start >= size or end < start:
        raise RangeNotSatisfiable(headers={"Content-Range": f"bytes */{size}"})
    return start, end


def _disposition(file: StoredFile) -> str:
    kind = "inline" if file.mime_type in files_service.RASTER_IMAGES else "attachment"
    ascii_name = file.filename.encode("ascii", "replace").decode().replace('"', "_")
    return f"{kind}; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(file.filename)}"


@router.get(
    "/files/{file_id}/content",
    response_class=StreamingResponse,
    responses={
        200: {"content": {"application/octet-stream": {}}, "description": "The bytes"},
        206: {"description": "The requested byte range"},
        416: {"description": "Range outside the file"},
        **NOT_FOUND,
    },
    description="The file's bytes (HTTP Range supported). Works with a bearer token or API "
    "key, or without any header through the signed `file_path` link.",
)
async def download_file(
    request: Request,
    file_id: int,
    principal: Downloader,
    session: SessionDep,
    exp: int | None = None,
    sig: str | None = None,
) -> StreamingResponse:
    key = request.app.state.secrets.derive("files")
    file = await files_service.get_for_download(session, principal, key, file_id, exp, sig)
    headers = {
        "Accept-Ranges": "bytes",
        "Content-Disposition": _disposition(file),
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": "sandbox",
        "ETag": f'"{file.sha256}"',
        "Cache-Control": "private, max-age=300",
    }
    wanted = _byte_range(request.headers.get("range"), file.size)
    status = 200
    start, end = 0, file.size - 1
    if wanted is not None:
        start, end = wanted
        status = 206
        headers["Content-Range"] = f"bytes {start}-{end}/{file.size}"
    headers["Content-Length"] = str(end - start + 1 if file.size else 0)
    storage = request.app.state.storage
    body = storage.read(file.storage_key, start, end) if file.size else _empty()
    return StreamingResponse(body, status_code=status, headers=headers, media_type=file.mime_type)


async def _empty():
    return
    yield b""


def setup(app: FastAPI) -> None:
    state = app.state
    state.storage = make_storage(state.settings)
    hooks = getattr(state, "user_deletion_hooks", None)
    if hooks is None:
        hooks = state.user_deletion_hooks = []

    async def delete_user_bytes(session: AsyncSession, user_id: int) -> None:
        await files_service.delete_users_files(session, state.storage, user_id)

    async def close_storage(_app: FastAPI) -> None:
        await state.storage.close()

    async def sweep_temporaries(_app: FastAPI) -> None:
        removed = await state.storage.sweep()
        if removed:
            log.info("removed %d upload temporaries left by stopped processes", removed)

    hooks.append(delete_user_bytes)
    state.startup_hooks.append(sweep_temporaries)
    state.shutdown_hooks.append(close_storage)
