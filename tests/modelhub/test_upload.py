"""Uploading a model: archives and single files validated before anything is installed."""

import io
import tarfile
import zipfile

from tests.modelhub.hub_server import safetensors_bytes

BASE = "/api/v1/models"
WEIGHTS = safetensors_bytes(1000)


def zipped(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def tarred(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def send(client, headers, model_id, filename, data):
    return client.post(
        f"{BASE}/upload",
        data={"model_id": model_id},
        files={"file": (filename, data, "application/octet-stream")},
        headers=headers,
    )


def test_archives_and_single_files_are_installed(client, app, create_user):
    developer = create_user("developer")
    archive = zipped({"config.json": b"{}", "model.safetensors": WEIGHTS})
    assert (
        send(client, create_user("viewer").headers, "up/zip", "m.zip", archive).status_code == 403
    )
    response = send(client, developer.headers, "up/zip", "m.zip", archive)
    assert response.status_code == 201, response.text
    assert response.json()["dtypes"] == ["F32"] and response.json()["formats"] == ["safetensors"]
    assert send(client, developer.headers, "up/zip", "m.zip", archive).status_code == 409

    response = send(
        client,
        developer.headers,
        "up/tar",
        "m.tar.gz",
        tarred({"w/a.safetensors": WEIGHTS, "config.json": b"{}"}),
    )
    assert response.status_code == 201, response.text
    response = send(client, developer.headers, "up/single", "tiny.Q8_0.gguf", b"GGUF" + bytes(64))
    assert response.status_code == 201 and response.json()["quantizations"] == ["Q8_0"]
    local = {m["id"] for m in client.get(f"{BASE}/local", headers=developer.headers).json()}
    assert {"up/zip", "up/tar", "up/single"} <= local


def test_unsafe_or_foreign_uploads_are_refused(client, app, create_user, admin):
    developer = create_user("developer")
    cases = [
        ("up/evil", "m.tar.gz", tarred({"../evil.safetensors": WEIGHTS}), "outside"),
        ("up/evil2", "m.zip", zipped({"/etc/x.safetensors": WEIGHTS}), "outside"),
        (
            "up/pickle",
            "m.zip",
            zipped({"pytorch_model.bin": b"\x80\x04", "config.json": b"{}"}),
            "Pickle",
        ),
        ("up/empty", "m.zip", zipped({"readme.md": b"hi"}), "no model"),
        ("up/junk", "m.safetensors", b"not a safetensors file", "not a valid"),
        ("up/junk2", "m.dat", b"random bytes", "Upload a .zip"),
    ]
    for model_id, filename, data, words in cases:
        response = send(client, developer.headers, model_id, filename, data)
        assert response.status_code == 422, (model_id, response.text)
        assert words in response.json()["detail"], response.json()
    assert send(client, developer.headers, "../x", "m.gguf", b"GGUF").status_code == 422
    models = app.state.settings.data_dir / "models"
    assert not (models / "up/evil").exists() and not (models.parent / "evil.safetensors").exists()
    assert list((models / ".incoming").glob("upload-*")) == []

    allow = client.put(f"{BASE}/settings", json={"allow_pickle": True}, headers=admin.headers)
    assert allow.status_code == 200
    pickled = zipped({"pytorch_model.bin": b"\x80\x04", "config.json": b"{}"})
    assert send(client, developer.headers, "up/pickle", "m.zip", pickled).status_code == 201
