"""multipart/form-data read straight from the ASGI receive channel, part by part.

FastAPI's UploadFile spools the whole body first; this hands the `file` field's bytes to the
service as they arrive, so a 1 GiB upload never sits in memory or in a spool file.
"""

from collections.abc import AsyncIterator
from dataclasses import dataclass

from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import ClientDisconnect, Request

from atrium.errors import UnsupportedMediaType
from atrium.files.service import BadUpload

FIELD = "file"


@dataclass
class PartHeaders:
    name: str | None
    filename: str | None


def _part_headers(headers: dict[bytes, bytes]) -> PartHeaders:
    _, options = parse_options_header(headers.get(b"content-disposition", b""))
    name = options.get(b"name")
    filename = options.get(b"filename")
    return PartHeaders(
        name=name.decode("utf-8", "replace") if name is not None else None,
        filename=filename.decode("utf-8", "replace") if filename is not None else None,
    )


async def _events(body: AsyncIterator[bytes], boundary: bytes) -> AsyncIterator[tuple]:
    events: list[tuple] = []
    header = {"field": b"", "value": b""}
    headers: dict[bytes, bytes] = {}

    def on_header_field(data: bytes, start: int, end: int) -> None:
        header["field"] += data[start:end]

    def on_header_value(data: bytes, start: int, end: int) -> None:
        header["value"] += data[start:end]

    def on_header_end() -> None:
        headers[header["field"].lower()] = header["value"]
        header["field"] = header["value"] = b""

    def on_headers_finished() -> None:
        events.append(("headers", _part_headers(headers)))
        headers.clear()

    def on_part_data(data: bytes, start: int, end: int) -> None:
        if events and events[-1][0] == "data":
            events[-1] = ("data", events[-1][1] + data[start:end])
        else:
            events.append(("data", bytes(data[start:end])))

    parser = MultipartParser(
        boundary,
        {
            "on_header_field": on_header_field,
            "on_header_value": on_header_value,
            "on_header_end": on_header_end,
            "on_headers_finished": on_headers_finished,
            "on_part_data": on_part_data,
            "on_part_end": lambda: events.append(("end", None)),
        },
    )
    try:
        async for chunk in body:
            parser.write(chunk)
            ready, events[:] = list(events), []
            for event in ready:
                yield event
        parser.finalize()
    except FormParserError as exc:
        raise BadUpload(f"The multipart body is malformed: {exc}") from None
    except ClientDisconnect:
        raise BadUpload("The upload was interrupted before it finished") from None
    for event in events:
        yield event


async def _part_bytes(events: AsyncIterator[tuple]) -> AsyncIterator[bytes]:
    async for kind, value in events:
        if kind == "data":
            yield value
        elif kind == "end":
            return
    raise BadUpload("The upload ended before the file did")


async def file_part(request: Request) -> tuple[str | None, AsyncIterator[bytes]]:
    """The `file` field's name and an iterator of its bytes, read as they arrive."""
    media_type, options = parse_options_header(request.headers.get("content-type", ""))
    if media_type != b"multipart/form-data":
        raise UnsupportedMediaType(
            f"Send the file as multipart/form-data with a field named {FIELD!r}"
        )
    boundary = options.get(b"boundary")
    if not boundary:
        raise BadUpload("The multipart/form-data content type has no boundary")
    events = _events(request.stream(), boundary)
    async for kind, value in events:
        if kind == "headers" and value.name == FIELD:
            return value.filename, _part_bytes(events)
    raise BadUpload(f"The form has no field named {FIELD!r}")
