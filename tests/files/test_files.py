"""Uploads (seed 004's POST /api/v1/upload) and the file library: streaming, sniffing,
hashing, limits, quotas, signed downloads with Range, ownership, and nothing half-written."""

import asyncio
import hashlib
import re
import time
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.files.samples import pdf_with_text, png, zip_with_traversal

UPLOAD = "/api/v1/upload"
LIMIT = 1024 * 1024
QUOTA = 3 * 1024 * 1024


@pytest.fixture(scope="module")
def settings_overrides():
    return {"max_upload_bytes": LIMIT, "user_storage_quota_bytes": QUOTA}


def upload(client, headers, content, filename="notes.txt", content_type="text/plain"):
    return client.post(UPLOAD, files={"file": (filename, content, content_type)}, headers=headers)


def test_upload_returns_the_seed_shape(client, create_user):
    owner = create_user()
    body = b"hello world\n" * 100
    response = upload(client, owner.headers, body)
    assert response.status_code == 201, response.text
    data = response.json()
    assert {"id", "filename", "file_path", "file_size", "mime_type"} <= set(data)
    assert data["filename"] == "notes.txt" and data["file_size"] == len(body)
    assert data["mime_type"] == "text/plain"
    assert data["sha256"] == hashlib.sha256(body).hexdigest()
    assert data["file_path"].startswith(f"/api/v1/files/{data['id']}/content?exp=")
    assert "/uploads/" not in data["file_path"] and "data" not in data["file_path"]


def test_type_is_sniffed_not_taken_from_the_client(client, create_user):
    owner = create_user()
    as_pdf = upload(client, owner.headers, pdf_with_text("x"), "report.txt", "text/plain")
    assert as_pdf.json()["mime_type"] == "application/pdf"
    as_png = upload(client, owner.headers, png(), "image.pdf", "application/pdf")
    assert as_png.json()["mime_type"] == "image/png"
    as_text = upload(client, owner.headers, b"# Title\n\nbody", "readme.md", "image/png")
    assert as_text.json()["mime_type"] == "text/markdown"
    binary = upload(client, owner.headers, bytes(range(256)) * 4, "blob.bin", "text/plain")
    assert binary.json()["mime_type"] == "application/octet-stream"


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("photo.jpg", b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x00" * 64),
        ("clip.mp4", b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 64),
        ("song.mp3", b"ID3\x03\x00\x00\x00\x00\x00\x00" + b"\x00" * 64),
        ("doc.docx", b"PK\x03\x04" + b"\x00" * 64),
        ("archive.7z", b"7z\xbc\xaf\x27\x1c" + b"\x00" * 64),
        ("schedule.xer", b"ERMHDR\t19.12\t2024-01-01\n"),
        ("model.step", b"ISO-10303-21;\nHEADER;\n"),
        ("drawing.dwg", b"AC1032" + b"\x00" * 64),
        ("part.stl", b"solid part\nendsolid part\n"),
        ("script.py", b"print('hi')\n"),
        ("data.csv", b"a,b\n1,2\n"),
    ],
)
def test_every_seed_file_type_is_accepted(client, create_user, name, content):
    response = upload(client, create_user().headers, content, name, "application/octet-stream")
    assert response.status_code == 201, response.text
    assert response.json()["file_size"] == len(content)


def test_names_are_sanitised_and_archives_stored_as_bytes(client, create_user, app):
    owner = create_user()
    archive = zip_with_traversal()
    response = upload(client, owner.headers, archive, "../../etc/passwd.zip", "application/zip")
    assert response.status_code == 201
    data = response.json()
    assert data["filename"] == "passwd.zip"
    assert data["mime_type"] == "application/zip"
    storage_root = app.state.storage.root
    assert not (storage_root.parent / "etc").exists()
    downloaded = client.get(f"/api/v1/files/{data['id']}/content", headers=owner.headers)
    assert downloaded.content == archive
    weird = upload(client, owner.headers, b"x", "..\\..\\win\\evil.txt")
    assert weird.json()["filename"] == "evil.txt"
    hidden = upload(client, owner.headers, b"x", ".....")
    assert hidden.json()["filename"] == "file"


def test_list_get_and_delete(client, create_user, file_state):
    owner = create_user()
    first = upload(client, owner.headers, b"one").json()
    second = upload(client, owner.headers, b"two").json()
    listed = client.get("/api/v1/files", headers=owner.headers).json()
    assert [f["id"] for f in listed] == [second["id"], first["id"]]
    page = client.get("/api/v1/files", params={"limit": 1}, headers=owner.headers)
    assert [f["id"] for f in page.json()] == [second["id"]]
    rest = client.get(
        "/api/v1/files",
        params={"limit": 1, "cursor": page.headers["X-Next-Cursor"]},
        headers=owner.headers,
    )
    assert [f["id"] for f in rest.json()] == [first["id"]]
    single = client.get(f"/api/v1/files/{first['id']}", headers=owner.headers).json()
    assert single["filename"] == "notes.txt" and single["file_size"] == 3
    rows, objects = file_state()
    response = client.delete(f"/api/v1/files/{first['id']}", headers=owner.headers)
    assert response.status_code == 200
    assert response.json() == {"id": first["id"], "deleted": True}

    assert file_state() == (rows - 1, objects - 1)
    assert client.get(f"/api/v1/files/{first['id']}", headers=owner.headers).status_code == 404


def test_download_with_bearer_and_range(client, create_user):
    owner = create_user()
    body = bytes(range(256)) * 10
    data = upload(client, owner.headers, body, "blob.bin").json()
    path = f"/api/v1/files/{data['id']}/content"
    whole = client.get(path, headers=owner.headers)
    assert whole.status_code == 200 and whole.content == body
    assert whole.headers["content-disposition"].startswith("attachment")
    assert whole.headers["x-content-type-options"] == "nosniff"
    assert whole.headers["content-security-policy"] == "sandbox"
    assert whole.headers["accept-ranges"] == "bytes"
    part = client.get(path, headers={**owner.headers, "Range": "bytes=10-19"})
    assert part.status_code == 206 and part.content == body[10:20]
    assert part.headers["content-range"] == f"bytes 10-19/{len(body)}"
    tail = client.get(path, headers={**owner.headers, "Range": "bytes=-5"})
    assert tail.status_code == 206 and tail.content == body[-5:]
    open_ended = client.get(path, headers={**owner.headers, "Range": "bytes=2550-"})
    assert open_ended.content == body[2550:]
    outside = client.get(path, headers={**owner.headers, "Range": "bytes=99999-"})
    assert outside.status_code == 416
    assert outside.headers["content-range"] == f"bytes */{len(body)}"


def test_images_are_inline(client, create_user):
    owner = create_user()
    data = upload(client, owner.headers, png(), "pic.png").json()
    response = client.get(data["file_path"])
    assert response.status_code == 200
    assert response.headers["content-disposition"].startswith("inline")
    assert response.headers["content-type"] == "image/png"


def test_signed_link_works_without_a_header_and_is_resigned(client, create_user):
    owner = create_user()
    data = upload(client, owner.headers, b"signed bytes").json()
    response = client.get(data["file_path"])
    assert response.status_code == 200 and response.content == b"signed bytes"
    later = client.get(f"/api/v1/files/{data['id']}", headers=owner.headers).json()
    assert "sig=" in later["file_path"]
    query = parse_qs(urlsplit(data["file_path"]).query)
    tampered = data["file_path"].replace(query["sig"][0], "A" * len(query["sig"][0]))
    refused = client.get(tampered)
    assert refused.status_code == 401 and refused.json()["code"] == "invalid_signature"
    expired = re.sub(r"exp=\d+", f"exp={int(time.time()) - 10}", data["file_path"])
    assert client.get(expired).status_code == 401
    other_file = upload(client, owner.headers, b"other").json()
    swapped = data["file_path"].replace(f"/files/{data['id']}/", f"/files/{other_file['id']}/")
    assert client.get(swapped).status_code == 401
    assert client.get(f"/api/v1/files/{data['id']}/content").status_code == 401


def test_empty_file_is_accepted(client, create_user):
    owner = create_user()
    data = upload(client, owner.headers, b"", "empty.txt").json()
    assert data["file_size"] == 0
    assert client.get(data["file_path"]).content == b""


def test_oversized_upload_is_413_and_leaves_nothing(client, create_user, file_state):
    owner = create_user()
    before = file_state()
    declared = upload(client, owner.headers, b"x" * (LIMIT + 10))
    assert declared.status_code == 413
    assert file_state() == before

    def chunks():  # no Content-Length: the limit is found while streaming
        boundary = b"BOUNDARY"
        yield (
            b"--"
            + boundary
            + b'\r\nContent-Disposition: form-data; name="file"; filename="big"\r\n\r\n'
        )
        for _ in range(20):
            yield b"y" * (LIMIT // 10)
        yield b"\r\n--" + boundary + b"--\r\n"

    streamed = client.post(
        UPLOAD,
        content=chunks(),
        headers={**owner.headers, "Content-Type": "multipart/form-data; boundary=BOUNDARY"},
    )
    assert streamed.status_code == 413
    assert streamed.json()["code"] in ("file_too_large", "payload_too_large")
    assert file_state() == before


def test_quota_exceeded_is_403_and_leaves_nothing(client, create_user, file_state):
    owner = create_user()
    for _ in range(3):
        assert upload(client, owner.headers, b"q" * (LIMIT - 1000)).status_code == 201
    before = file_state()
    response = upload(client, owner.headers, b"q" * 5000)
    assert response.status_code == 403
    assert response.json()["code"] == "quota_exceeded"
    assert file_state() == before
    assert upload(client, create_user().headers, b"other user").status_code == 201


def test_bad_uploads_are_clear_4xx(client, create_user, file_state):
    owner = create_user()
    before = file_state()
    as_json = client.post(UPLOAD, json={"file": "x"}, headers=owner.headers)
    assert as_json.status_code == 415
    no_field = client.post(UPLOAD, files={"other": ("a.txt", b"x")}, headers=owner.headers)
    assert no_field.status_code == 400 and "file" in no_field.json()["detail"]
    no_boundary = client.post(
        UPLOAD, content=b"xx", headers={**owner.headers, "Content-Type": "multipart/form-data"}
    )
    assert no_boundary.status_code == 400
    truncated = client.post(
        UPLOAD,
        content=b'--B\r\nContent-Disposition: form-data; name="file"; filename="t.txt"\r\n\r\nhalf',
        headers={**owner.headers, "Content-Type": "multipart/form-data; boundary=B"},
    )
    assert truncated.status_code == 400
    assert file_state() == before


def test_aborted_upload_leaves_nothing(client, app, create_user, file_state):
    owner = create_user()
    before = file_state()
    head = b'--B\r\nContent-Disposition: form-data; name="file"; filename="a.bin"\r\n\r\n'
    events = [
        {"type": "http.request", "body": head, "more_body": True},
        {"type": "http.request", "body": b"z" * 300_000, "more_body": True},
        {"type": "http.disconnect"},
    ]
    sent = []

    async def receive():
        return events.pop(0) if events else {"type": "http.disconnect"}

    async def send(message):
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": UPLOAD,
        "raw_path": UPLOAD.encode(),
        "query_string": b"",
        "root_path": "",
        "server": ("testserver", 80),
        "client": ("127.0.0.1", 1234),
        "headers": [
            (b"host", b"testserver"),
            (b"authorization", owner.headers["Authorization"].encode()),
            (b"content-type", b"multipart/form-data; boundary=B"),
        ],
    }
    client.portal.call(app, scope, receive, send)
    client.portal.call(asyncio.sleep, 0.1)
    assert sent[0]["status"] == 400
    assert file_state() == before


def test_every_route_needs_credentials(client):
    assert client.post(UPLOAD, files={"file": ("a", b"x")}).status_code == 401
    assert client.get("/api/v1/files").status_code == 401
    assert client.get("/api/v1/files/1").status_code == 401
    assert client.get("/api/v1/files/1/content").status_code == 401
    assert client.delete("/api/v1/files/1").status_code == 401


def test_another_users_file_is_404_everywhere(client, create_user, file_state):
    owner, intruder = create_user(), create_user()
    data = upload(client, owner.headers, b"private").json()
    path = f"/api/v1/files/{data['id']}"
    assert client.get(path, headers=intruder.headers).status_code == 404
    assert client.get(f"{path}/content", headers=intruder.headers).status_code == 404
    assert client.delete(path, headers=intruder.headers).status_code == 404
    assert client.get("/api/v1/files", headers=intruder.headers).json() == []
    assert client.get(f"{path}/content", headers=owner.headers).content == b"private"


def test_viewer_may_not_upload(client, create_user):
    viewer = create_user("viewer")
    assert upload(client, viewer.headers, b"x").status_code == 403
    assert client.get("/api/v1/files", headers=viewer.headers).status_code == 200


def test_deleting_a_user_deletes_their_files_bytes(client, create_user, admin, file_state):
    owner = create_user()
    for n in range(2):
        assert upload(client, owner.headers, f"bytes {n}".encode()).status_code == 201
    rows, objects = file_state()
    response = client.delete(f"/api/v1/admin/users/{owner.id}", headers=admin.headers)
    assert response.status_code == 200, response.text

    assert file_state() == (rows - 2, objects - 2)
