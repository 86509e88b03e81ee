"""Where file bytes live: a local directory (default) or an S3-compatible bucket.

Writes go to a temporary object that becomes visible under its final key only on
`commit()`; `abort()` (or a failure) leaves nothing behind. Reads stream a byte range.
A process killed mid-upload cannot abort: `sweep()` on start removes what dead processes
left (local temporaries carry their writer's pid; S3 multipart uploads older than a day).
"""

import asyncio
import os
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from atrium.config import Settings
from atrium.datadir import create_private, private_dir

READ_CHUNK = 256 * 1024
LOCAL_FLUSH = 1024 * 1024
S3_PART = 8 * 1024 * 1024  # S3 parts must be at least 5 MiB, except the last


class PendingWrite(Protocol):
    async def write(self, data: bytes) -> None: ...
    async def commit(self) -> None: ...
    async def abort(self) -> None: ...


class Storage(Protocol):
    def begin(self, key: str) -> PendingWrite: ...
    async def sweep(self) -> int: ...
    def read(self, key: str, start: int = 0, end: int | None = None) -> AsyncIterator[bytes]: ...
    async def delete(self, key: str) -> None: ...
    async def close(self) -> None: ...


class LocalStorage:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.tmp = root / ".tmp"
        private_dir(self.tmp)

    def path_of(self, key: str) -> Path:
        # Keys are made by the service from ids and random hex, never from client input.
        return self.root / key

    def begin(self, key: str) -> "LocalWrite":
        return LocalWrite(self.tmp / f"{os.getpid()}-{uuid.uuid4().hex}", self.path_of(key))

    async def sweep(self) -> int:
        """Remove temporaries whose writing process is gone; the number removed."""
        return await asyncio.to_thread(self._sweep)

    def _sweep(self) -> int:
        removed = 0
        for entry in os.scandir(self.tmp):
            if entry.is_file() and not _writer_alive(entry.name):
                Path(entry.path).unlink(missing_ok=True)
                removed += 1
        return removed

    async def read(self, key: str, start: int = 0, end: int | None = None) -> AsyncIterator[bytes]:
        handle = await asyncio.to_thread(open, self.path_of(key), "rb")
        try:
            await asyncio.to_thread(handle.seek, start)
            remaining = None if end is None else end - start + 1
            while remaining is None or remaining > 0:
                size = READ_CHUNK if remaining is None else min(READ_CHUNK, remaining)
                chunk = await asyncio.to_thread(handle.read, size)
                if not chunk:
                    break
                if remaining is not None:
                    remaining -= len(chunk)
                yield chunk
        finally:
            handle.close()

    async def delete(self, key: str) -> None:
        await asyncio.to_thread(self.path_of(key).unlink, missing_ok=True)

    async def close(self) -> None:
        return None


def _writer_alive(name: str) -> bool:
    """Whether the process named in a temporary's `<pid>-<hex>` name still runs (another
    worker sharing this data directory may be writing it right now)."""
    pid_text, _, _ = name.partition("-")
    if not pid_text.isdigit():
        return False
    pid = int(pid_text)
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class LocalWrite:
    def __init__(self, temp: Path, final: Path) -> None:
        self.temp = temp
        self.final = final
        self.buffer = bytearray()
        self.handle = os.fdopen(create_private(temp), "wb")  # closed in commit/abort

    async def write(self, data: bytes) -> None:
        self.buffer += data
        if len(self.buffer) >= LOCAL_FLUSH:
            await self._flush()

    async def _flush(self) -> None:
        data, self.buffer = bytes(self.buffer), bytearray()
        await asyncio.to_thread(self.handle.write, data)

    async def commit(self) -> None:
        await self._flush()
        self.handle.close()
        await asyncio.to_thread(private_dir, self.final.parent)
        await asyncio.to_thread(os.replace, self.temp, self.final)

    async def abort(self) -> None:
        self.buffer = bytearray()
        self.handle.close()
        await asyncio.to_thread(self.temp.unlink, missing_ok=True)


class S3Storage:
    """S3-compatible storage through boto3 (run in threads); uploads are multipart uploads,
    which stay invisible until completed and are aborted on failure."""

    def __init__(self, bucket: str, *, endpoint_url: str | None, region: str) -> None:
        import boto3
        from botocore.config import Config

        self.bucket = bucket
        self.client = boto3.client(
            "s3",
            endpoint_url=endpoint_url,
            region_name=region,
            config=Config(retries={"max_attempts": 3}, max_pool_connections=32),
        )

    def begin(self, key: str) -> "S3Write":
        return S3Write(self.client, self.bucket, key)

    async def read(self, key: str, start: int = 0, end: int | None = None) -> AsyncIterator[bytes]:
        byte_range = f"bytes={start}-{'' if end is None else end}"
        answer = await asyncio.to_thread(
            self.client.get_object, Bucket=self.bucket, Key=key, Range=byte_range
        )
        body = answer["Body"]
        try:
            while True:
                chunk = await asyncio.to_thread(body.read, READ_CHUNK)
                if not chunk:
                    break
                yield chunk
        finally:
            body.close()

    async def delete(self, key: str) -> None:
        await asyncio.to_thread(self.client.delete_object, Bucket=self.bucket, Key=key)

    async def sweep(self) -> int:
        """Abort multipart uploads started over a day ago (a live one never lasts that long)."""
        return await asyncio.to_thread(self._sweep)

    def _sweep(self) -> int:
        cutoff = datetime.now(UTC) - timedelta(days=1)
        removed = 0
        pages = self.client.get_paginator("list_multipart_uploads").paginate(Bucket=self.bucket)
        for page in pages:
            for upload in page.get("Uploads", []):
                if upload["Initiated"] < cutoff:
                    self.client.abort_multipart_upload(
                        Bucket=self.bucket, Key=upload["Key"], UploadId=upload["UploadId"]
                    )
                    removed += 1
        return removed

    async def close(self) -> None:
        self.client.close()


class S3Write:
    def __init__(self, client: Any, bucket: str, key: str) -> None:
        self.client = client
        self.bucket = bucket
        self.key = key
        self.buffer = bytearray()
        self.parts: list[dict[str, Any]] = []
        self.upload_id: str | None = None

    async def write(self, data: bytes) -> None:
        self.buffer += data
        if len(self.buffer) >= S3_PART:
            await self._send_part()

    async def _send_part(self) -> None:
        if self.upload_id is None:
            created = await asyncio.to_thread(
                self.client.create_multipart_upload, Bucket=self.bucket, Key=self.key
            )
            self.upload_id = created["UploadId"]
        data, self.buffer = bytes(self.buffer), bytearray()
        number = len(self.parts) + 1
        answer = await asyncio.to_thread(
            self.client.upload_part,
            Bucket=self.bucket,
            Key=self.key,
            UploadId=self.upload_id,
            PartNumber=number,
            Body=data,
        )
        self.parts.append({"PartNumber": number, "ETag": answer["ETag"]})

    async def commit(self) -> None:
        if self.upload_id is None:  # small file: one plain PUT
            data, self.buffer = bytes(self.buffer), bytearray()
            await asyncio.to_thread(
                self.client.put_object, Bucket=self.bucket, Key=self.key, Body=data
            )
            return
        if self.buffer:
            await self._send_part()
        await asyncio.to_thread(
            self.client.complete_multipart_upload,
            Bucket=self.bucket,
            Key=self.key,
            UploadId=self.upload_id,
            MultipartUpload={"Parts": self.parts},
        )

    async def abort(self) -> None:
        self.buffer = bytearray()
        if self.upload_id is not None:
            await asyncio.to_thread(
                self.client.abort_multipart_upload,
                Bucket=self.bucket,
                Key=self.key,
                UploadId=self.upload_id,
            )


def make_storage(settings: Settings) -> Storage:
    if settings.storage_backend == "s3":
        if not settings.s3_bucket:
            raise RuntimeError("ATRIUM_STORAGE_BACKEND=s3 needs ATRIUM_S3_BUCKET")
        return S3Storage(
            settings.s3_bucket, endpoint_url=settings.s3_endpoint_url, region=settings.s3_region
        )
    return LocalStorage(settings.data_dir / "files")
