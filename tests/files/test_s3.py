"""The S3-compatible storage backend, against moto's real S3 server on a loopback port."""

import os
import socket

import boto3
import pytest
from moto.server import ThreadedMotoServer

from tests.files.samples import pdf_with_text

BUCKET = "atrium-files"
LIMIT = 32 * 1024 * 1024


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def s3_endpoint():
    previous = {
        name: os.environ.get(name)
        for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION")
    }
    os.environ.update(
        AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_DEFAULT_REGION="us-east-1"
    )
    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1").create_bucket(Bucket=BUCKET)
    yield endpoint
    server.stop()
    for name, value in previous.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


@pytest.fixture(scope="module")
def settings_overrides(s3_endpoint):
    return {
        "storage_backend": "s3",
        "s3_bucket": BUCKET,
        "s3_endpoint_url": s3_endpoint,
        "max_upload_bytes": LIMIT,
    }


def upload(client, headers, content, filename="data.bin"):
    return client.post("/api/v1/upload", files={"file": (filename, content)}, headers=headers)


def test_small_upload_round_trip(client, app, create_user):
    owner = create_user()
    body = pdf_with_text("stored in S3")
    data = upload(client, owner.headers, body, "doc.pdf").json()
    assert data["mime_type"] == "application/pdf"
    assert client.get(data["file_path"]).content == body
    part = client.get(
        f"/api/v1/files/{data['id']}/content", headers={**owner.headers, "Range": "bytes=0-3"}
    )
    assert part.status_code == 206 and part.content == b"%PDF"


def test_multipart_upload_of_several_parts(client, create_user, file_state):
    owner = create_user()
    body = os.urandom(1024) * (20 * 1024)  # 20 MiB: three parts of 8 MiB
    data = upload(client, owner.headers, body).json()
    assert data["file_size"] == len(body)
    downloaded = client.get(data["file_path"])
    assert downloaded.content == body


def test_failed_upload_leaves_no_object_or_pending_multipart(client, create_user, file_state):
    owner = create_user()
    before = file_state()
    too_big = b"x" * (LIMIT + 1)

    def chunks():
        yield b'--B\r\nContent-Disposition: form-data; name="file"; filename="big"\r\n\r\n'
        for start in range(0, len(too_big), 4 * 1024 * 1024):
            yield too_big[start : start + 4 * 1024 * 1024]
        yield b"\r\n--B--\r\n"

    response = client.post(
        "/api/v1/upload",
        content=chunks(),
        headers={**owner.headers, "Content-Type": "multipart/form-data; boundary=B"},
    )
    assert response.status_code == 413
    assert file_state() == before


def test_delete_removes_the_object(client, create_user, file_state):
    owner = create_user()
    data = upload(client, owner.headers, b"short-lived").json()
    rows, objects = file_state()
    assert client.delete(f"/api/v1/files/{data['id']}", headers=owner.headers).status_code == 200

    assert file_state() == (rows - 1, objects - 1)
