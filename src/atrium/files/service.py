"""Files: streamed uploads (hashed and sniffed as they arrive), quotas, signed downloads,
and the text or image parts that attachments add to a model's context."""

import asyncio
import base64
import hashlib
import hmac
import io
import re
import time
import unicodedata
import uuid
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any, NamedTuple, Protocol

import puremagic
from sqlalchemy import ColumnElement, Integer, bindparam, func, select, true
from sqlalchemy.ext.asyncio import AsyncSession

from atrium.activity import service as activity_service
from atrium.auth.principal import Principal
from atrium.config import Settings
from atrium.db import after_commit, after_rollback
from atrium.errors import BadRequest, Forbidden, NotFound, PayloadTooLarge, Unauthorized
from atrium.files.schemas import FileRead
from atrium.files.storage import Storage
from atrium.files.tables import StoredFile
from atrium.params import MAX_ID
from atrium.prepared import Prepared
from atrium.reader import Reader
from atrium.tiers import service as tiers_service

SNIFF_BYTES = 8192
SIGNED_URL_SECONDS = 900
MAX_PAGE = 1000
DEFAULT_PAGE = 100
RASTER_IMAGES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp", "image/bmp"})
MODEL_IMAGES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})
MAX_IMAGE_BYTES = 20 * 1024 * 1024
MAX_PDF_BYTES = 64 * 1024 * 1024
TEXT_BY_EXTENSION = {
    ".md": "text/markdown",
    ".markdown": "text/markdown",
    ".csv": "text/csv",
    ".tsv": "text/tab-separated-values",
    ".json": "application/json",
    ".xml": "application/xml",
    ".xer": "text/plain",
    ".html": "text/html",
    ".htm": "text/html",
    ".css": "text/css",
    ".js": "text/javascript",
    ".ts": "text/x-typescript",
    ".py": "text/x-python",
    ".yaml": "application/yaml",
    ".yml": "application/yaml",
    ".sql": "application/sql",
    ".svg": "image/svg+xml",
}
TEXT_APPLICATION_TYPES = frozenset(
    {"application/json", "application/xml", "application/yaml", "application/sql"}
)


class FileRecord(Protocol):
    """A stored file as other domains hold it: they read these fields and hand it back to
    this service (descriptions with signed links, text and images for a model's context)."""

    id: int
    filename: str
    mime_type: str
    size: int
    sha256: str
    storage_key: str
    created_at: datetime


class FileNotFound(NotFound):
    code = "file_not_found"
    detail = "File not found"


class FileTooLarge(PayloadTooLarge):
    code = "file_too_large"


class QuotaExceeded(Forbidden):
    code = "quota_exceeded"


class BadUpload(BadRequest):
    code = "bad_upload"


class InvalidSignature(Unauthorized):
    code = "invalid_signature"
    detail = "The download link is invalid or has expired; ask for the file again"


# --- names and types -------------------------------------------------------------------------


def sanitise_filename(name: str | None) -> str:
    """The last path component, without control characters, separators or leading dots."""
    name = unicodedata.normalize("NFC", name or "")
    name = re.split(r"[\\/]", name)[-1]
    name = "".join(ch for ch in name if unicodedata.category(ch)[0] != "C")
    name = name.strip().lstrip(".").strip()
    if len(name) > 255:
        stem, dot, ext = name.rpartition(".")
        name = (stem[: 250 - len(ext)] + dot + ext) if dot and len(ext) < 20 else name[:255]
    return name or "file"


def _extension(filename: str) -> str:
    _, dot, ext = filename.rpartition(".")
    return f".{ext.lower()}" if dot else ""


def _looks_like_text(head: bytes) -> bool:
    if not head or b"\x00" in head:
        return not head
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        return exc.start >= len(head) - 3  # a character cut at the sniff boundary
    return True


def sniff_type(head: bytes, filename: str) -> str:
    """The type the content shows (the client's Content-Type is never trusted)."""
    if head:
        try:
            matches = puremagic.magic_string(head, filename)
        except (puremagic.PureError, ValueError):
            matches = []
        for match in matches:
            if match.mime_type and match.confidence >= 0.4:
                return match.mime_type
    if _looks_like_text(head):
        return TEXT_BY_EXTENSION.get(_extension(filename), "text/plain")
    return "application/octet-stream"


def is_text_like(mime_type: str) -> bool:
    return (
        mime_type.startswith("text/")
        or mime_type in TEXT_APPLICATION_TYPES
        or mime_type.endswith(("+json", "+xml"))
    )


# --- signed download URLs --------------------------------------------------------------------


def _signature(key: bytes, file: FileRecord, expires: int) -> str:
    # The storage key is random per upload, so a link never opens a later file with a reused id.
    message = f"{file.id}.{file.storage_key}.{expires}".encode()
    digest = hmac.new(key, message, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def download_url(key: bytes, file: FileRecord, *, now: float | None = None) -> str:
    expires = int((now or time.time()) + SIGNED_URL_SECONDS)
    return f"/api/v1/files/{file.id}/content?exp={expires}&sig={_signature(key, file, expires)}"


def describe(key: bytes, file: FileRecord) -> FileRead:
    """The file as clients see it, with a freshly signed `file_path`."""
    return FileRead(
        id=file.id,
        filename=file.filename,
        file_path=download_url(key, file),
        file_size=file.size,
        mime_type=file.mime_type,
        sha256=file.sha256,
        created_at=file.created_at,
    )


def file_fields(key: bytes, file: FileRecord) -> dict[str, Any]:
    """`describe` as the JSON fields of `FileRead`, times left to `shapes.json_bytes`."""
    return {
        "id": str(file.id),
        "filename": file.filename,
        "file_path": download_url(key, file),
        "file_size": file.size,
        "mime_type": file.mime_type,
        "sha256": file.sha256,
        "createdAt": file.created_at,
    }


def signature_valid(key: bytes, file: StoredFile, expires: int, signature: str) -> bool:
    if expires < time.time():
        return False
    return hmac.compare_digest(_signature(key, file, expires), signature)


# --- lookups ---------------------------------------------------------------------------------


def _visible(principal: Principal, action: str) -> ColumnElement[bool]:
    if principal.reaches("files", action):
        return true()
    return StoredFile.user_id == principal.user_id


async def get_owned(
    session: AsyncSession, principal: Principal, file_id: int, action: str = "read"
) -> StoredFile:
    file = await session.scalar(
        select(StoredFile).where(StoredFile.id == file_id, _visible(principal, action))
    )
    if file is None:
        raise FileNotFound()
    return file


async def get_signed(
    session: AsyncSession, key: bytes, file_id: int, expires: int, signature: str
) -> StoredFile:
    file = await session.get(StoredFile, file_id)
    if file is None or not signature_valid(key, file, expires, signature):
        raise InvalidSignature()
    return file


async def get_for_download(
    session: AsyncSession,
    principal: Principal | None,
    key: bytes,
    file_id: int,
    expires: int | None,
    signature: str | None,
) -> StoredFile:
    """The caller's file, or without a caller the file a valid signed link names."""
    if principal is not None:
        return await get_owned(session, principal, file_id)
    return await get_signed(session, key, file_id, expires or 0, signature or "")


async def get_senders_files(
    session: AsyncSession, principal: Principal, file_ids: list[int | str]
) -> list[StoredFile]:
    """The files a message names, in the order named; each must be the sender's own."""
    ids: list[int] = []
    for raw in file_ids:
        text = str(raw).strip()
        if not text.isdigit() or int(text) > MAX_ID:
            raise FileNotFound(f"File {text!r} not found")
        if int(text) not in ids:
            ids.append(int(text))
    if not ids:
        return []
    rows = await session.scalars(
        select(StoredFile).where(StoredFile.id.in_(ids), StoredFile.user_id == principal.user_id)
    )
    found = {file.id: file for file in rows}
    for file_id in ids:
        if file_id not in found:
            raise FileNotFound(f"File {file_id} not found")
    return [found[file_id] for file_id in ids]


# --- reads on a connection: prebuilt statements, rows with FileRecord's fields ---------------


class FileRow(NamedTuple):
    """A file's `FileRecord` fields as the read paths load them (a named tuple: a SQLAlchemy
    `Row`'s attribute access is twenty times slower)."""

    id: int
    filename: str
    mime_type: str
    size: int
    sha256: str
    storage_key: str
    created_at: datetime


_file = StoredFile.__table__.c
_RECORD = select(*(_file[name] for name in FileRow._fields))
_by_id = _RECORD.where(_file.id == bindparam("file_id"))
_BY_ID = Prepared(_by_id)
_OWN_BY_ID = Prepared(_by_id.where(_file.user_id == bindparam("user_id")))
_BY_IDS = _RECORD.where(_file.id.in_(bindparam("file_ids", expanding=True)))
_own_newest = _RECORD.where(_file.user_id == bindparam("user_id"))
_OWN_PAGES = {
    before: Prepared(
        (_own_newest.where(_file.id < bindparam("before_id")) if before else _own_newest)
        .order_by(_file.id.desc())
        .limit(bindparam("size", type_=Integer))
    )
    for before in (False, True)
}


async def read_owned(reader: Reader, principal: Principal, file_id: int) -> FileRow:
    """A file the caller may read (`get_owned` without the ORM)."""
    params = {"file_id": file_id}
    statement = _BY_ID
    if not principal.reaches("files", "read"):
        statement, params["user_id"] = _OWN_BY_ID, principal.user_id
    file = await reader.first(statement, params)
    if file is None:
        raise FileNotFound()
    return FileRow._make(file)


async def read_page(
    reader: Reader,
    principal: Principal,
    *,
    limit: int | None,
    before_id: int | None,
) -> tuple[list[FileRow], int | None]:
    """The caller's files, newest first; with the id to continue before when more remain."""
    size = min(limit or DEFAULT_PAGE, MAX_PAGE)
    params = {"user_id": principal.user_id, "size": size + 1}
    if before_id is not None:
        params["before_id"] = before_id
    statement = _OWN_PAGES[before_id is not None]
    rows = [FileRow._make(row) for row in await reader.all(statement, params)]
    if len(rows) > size:
        return rows[:size], rows[size - 1].id
    return rows, None


async def fields_by_id(
    reader: Reader, key: bytes, file_ids: list[int]
) -> dict[int, dict[str, Any]]:
    """`file_fields` of the files by id, for attachments already linked to visible messages."""
    rows = await reader.all(_BY_IDS, {"file_ids": sorted(set(file_ids))})
    return {file.id: file_fields(key, file) for file in map(FileRow._make, rows)}


async def used_bytes(session: AsyncSession, user_id: int) -> int:
    total = await session.scalar(
        select(func.coalesce(func.sum(StoredFile.size), 0)).where(StoredFile.user_id == user_id)
    )
    return int(total or 0)


async def _stored_bytes(session: AsyncSession, user_id: int, _since: object) -> int:
    return await used_bytes(session, user_id)  # storage counts in total, not per month


tiers_service.register_usage_counter("storage_bytes", _stored_bytes)


# --- byte lifecycle tied to the transaction --------------------------------------------------


def delete_bytes_after_commit(session: AsyncSession, storage: Storage, keys: list[str]) -> None:
    """Bytes go once the rows are gone for good (a rolled-back delete keeps both), before the
    response is sent."""
    for key in keys:
        after_commit(session, lambda key=key: storage.delete(key))


def _delete_bytes_on_rollback(session: AsyncSession, storage: Storage, key: str) -> None:
    """Bytes written for a row that never got stored go when the transaction rolls back."""
    after_rollback(session, lambda: storage.delete(key))


# --- upload ----------------------------------------------------------------------------------


async def store_upload(
    session: AsyncSession,
    principal: Principal,
    storage: Storage,
    settings: Settings,
    *,
    filename: str | None,
    chunks: AsyncIterator[bytes],
    size_hint: int | None = None,
) -> StoredFile:
    """Stream `chunks` into storage, hashing and counting; the row and the bytes appear
    together or not at all."""
    limit = settings.max_upload_bytes
    quota, quota_error = await _storage_quota(session, principal, settings)
    remaining = quota - await used_bytes(session, principal.user_id)
    if size_hint is not None and size_hint > limit:
        raise FileTooLarge(f"The file is larger than the upload limit of {limit} bytes")
    if remaining <= 0 or (size_hint is not None and size_hint > remaining):
        raise quota_error
    name = sanitise_filename(filename)
    key = f"{principal.user_id}/{uuid.uuid4().hex}"
    pending = storage.begin(key)
    hasher = hashlib.sha256()
    size = 0
    head = bytearray()
    try:
        async for chunk in chunks:
            size += len(chunk)
            if size > limit:
                raise FileTooLarge(f"The file is larger than the upload limit of {limit} bytes")
            if size > remaining:
                raise quota_error
            hasher.update(chunk)
            if len(head) < SNIFF_BYTES:
                head += chunk[: SNIFF_BYTES - len(head)]
            await pending.write(chunk)
        await pending.commit()
    except BaseException:
        await asyncio.shield(pending.abort())
        raise
    _delete_bytes_on_rollback(session, storage, key)
    file = StoredFile(
        user_id=principal.user_id,
        filename=name,
        mime_type=sniff_type(bytes(head), name),
        size=size,
        sha256=hasher.hexdigest(),
        storage_key=key,
    )
    session.add(file)
    await session.flush()
    await activity_service.record(
        session,
        actor=principal,
        type="upload",
        action="file.uploaded",
        title="File uploaded",
        description=f"{activity_service.actor_name(principal)} uploaded '{name}' ({size} bytes)",
        subject_type="file",
        subject_id=file.id,
    )
    return file


async def _storage_quota(
    session: AsyncSession, principal: Principal, settings: Settings
) -> tuple[int, QuotaExceeded]:
    """The bytes the user may store: the instance's per-user cap, lowered by their tier's."""
    tier_name, limits = await tiers_service.limits_of(session, principal.user_id)
    tier_limit = limits["storage_bytes"]
    if tier_limit is not None and tier_limit < settings.user_storage_quota_bytes:
        return tier_limit, QuotaExceeded(
            f"Storage quota exceeded: the {tier_name} tier allows {tier_limit} bytes per user; "
            "delete files to make room"
        )
    return settings.user_storage_quota_bytes, QuotaExceeded(
        f"Storage quota exceeded: each user may store {settings.user_storage_quota_bytes} bytes; "
        "delete files to make room"
    )


async def delete(
    session: AsyncSession, principal: Principal, storage: Storage, file_id: int
) -> None:
    file = await get_owned(session, principal, file_id, "delete")
    await session.delete(file)
    await session.flush()
    delete_bytes_after_commit(session, storage, [file.storage_key])


async def delete_users_files(session: AsyncSession, storage: Storage, user_id: int) -> None:
    """A user deletion hook: their rows go by cascade, their bytes after the commit."""
    keys = list(
        await session.scalars(select(StoredFile.storage_key).where(StoredFile.user_id == user_id))
    )
    delete_bytes_after_commit(session, storage, keys)


# --- attachments for a model's context -------------------------------------------------------


async def read_prefix(storage: Storage, file: StoredFile, max_bytes: int) -> bytes:
    data = bytearray()
    end = min(file.size, max_bytes) - 1
    if end < 0:
        return b""
    async for chunk in storage.read(file.storage_key, 0, end):
        data += chunk
    return bytes(data)


def _pdf_text(data: bytes, max_chars: int) -> str:
    from pypdf import PdfReader

    reader = PdfReader(io.BytesIO(data))
    pieces: list[str] = []
    total = 0
    for page in reader.pages:
        text = page.extract_text() or ""
        pieces.append(text)
        total += len(text)
        if total >= max_chars:
            break
    return "\n".join(pieces)[:max_chars]


async def extract_text(storage: Storage, file: StoredFile, max_chars: int) -> str | None:
    """Text for the model: text-like files and PDFs' text; None for other types."""
    if is_text_like(file.mime_type):
        data = await read_prefix(storage, file, max_chars * 4)
        return data.decode("utf-8", errors="replace")[:max_chars]
    if file.mime_type == "application/pdf" and file.size <= MAX_PDF_BYTES:
        data = await read_prefix(storage, file, MAX_PDF_BYTES)
        try:
            return await asyncio.to_thread(_pdf_text, data, max_chars)
        except Exception:  # a damaged PDF: listed by name instead
            return None
    return None


async def image_data_url(storage: Storage, file: StoredFile) -> str | None:
    if file.mime_type not in MODEL_IMAGES or file.size > MAX_IMAGE_BYTES:
        return None
    data = await read_prefix(storage, file, MAX_IMAGE_BYTES)
    return f"data:{file.mime_type};base64,{base64.b64encode(data).decode()}"


async def get_many(session: AsyncSession, file_ids: list[int]) -> dict[int, StoredFile]:
    """Files by id, for showing attachments already linked to visible messages."""
    if not file_ids:
        return {}
    rows = await session.scalars(select(StoredFile).where(StoredFile.id.in_(set(file_ids))))
    return {file.id: file for file in rows}
