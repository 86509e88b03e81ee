"""Uploaded archives: a good one is audited; corrupt ones, bombs, traversal and links fail
with a readable reason and write nothing outside the audit's working directory; someone
else's upload is a 404 and a non-archive a 400."""

import io
import tarfile
import zipfile
from pathlib import Path

import pytest

from atrium.audits import sources
from tests.audits import fixtures

AUDITS = "/api/v1/audits"
UPLOAD = "/api/v1/upload"
LIMITS = sources.ArchiveLimits(max_bytes=10_000_000, max_files=100, max_ratio=50)


def zip_bytes(entries: dict[str, bytes], *, links: dict[str, str] | None = None) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as bundle:
        for name, data in entries.items():
            bundle.writestr(name, data)
        for name, target in (links or {}).items():
            info = zipfile.ZipInfo(name)
            info.external_attr = (0o120777 << 16) | 0
            bundle.writestr(info, target)
    return buffer.getvalue()


def tar_bytes(entries: dict[str, bytes], *, symlink: tuple[str, str] | None = None) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as bundle:
        for name, data in entries.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            bundle.addfile(info, io.BytesIO(data))
        if symlink:
            info = tarfile.TarInfo(symlink[0])
            info.type = tarfile.SYMTYPE
            info.linkname = symlink[1]
            bundle.addfile(info)
    return buffer.getvalue()


def planted_zip(tmp_path: Path) -> bytes:
    root = fixtures.planted_repository(tmp_path / "planted")
    entries = {
        str(p.relative_to(root)): p.read_bytes()
        for p in root.rglob("*")
        if p.is_file() and ".git" not in p.parts
    }
    return zip_bytes(entries)


def extract(tmp_path: Path, data: bytes, name: str = "a.zip") -> Path:
    archive = tmp_path / name
    archive.write_bytes(data)
    dest = tmp_path / "work" / "src"
    sources.extract(archive, dest, LIMITS)
    return dest


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (zip_bytes({"../escape.txt": b"x"}), "points outside"),
        (zip_bytes({"/abs.txt": b"x"}), "absolute path"),
        (tar_bytes({"a/../../escape.txt": b"x"}), "points outside"),
        (tar_bytes({"ok.txt": b"x"}, symlink=("link", "/etc/passwd")), "links are refused"),
        (zip_bytes({"ok.txt": b"x"}, links={"link": "/etc/passwd"}), "links are refused"),
        (zip_bytes({"bomb.txt": b"\0" * 5_000_000}), "archive bomb"),
        (zip_bytes({f"f{i}.txt": b"x" for i in range(101)}), "more than 100 files"),
        (b"PK\x03\x04 this is not really a zip file at all", "corrupt"),
        (zip_bytes({"a.txt": b"hello" * 1000})[:-30], "corrupt"),
        (b"plain text, no archive", "not a zip or tar.gz"),
    ],
)
def test_bad_archives_are_refused_and_nothing_escapes(tmp_path, data, reason):
    with pytest.raises(sources.SourceError, match=reason):
        extract(tmp_path, data)
    assert not (tmp_path / "escape.txt").exists()
    assert not (tmp_path / "work" / "escape.txt").exists()
    assert not Path("/abs.txt").exists()
    outside = {p for p in tmp_path.rglob("*") if "work" not in p.parts and p.name != "a.zip"}
    assert outside == set()


def test_good_tar_gz_extracts(tmp_path):
    dest = extract(tmp_path, tar_bytes({"pkg/a.py": b"print(1)\n"}), "a.tar.gz")
    assert (dest / "pkg" / "a.py").read_text() == "print(1)\n"


def upload(client, headers, data: bytes, name: str) -> str:
    response = client.post(
        UPLOAD, files={"file": (name, data, "application/octet-stream")}, headers=headers
    )
    assert response.status_code == 201, response.text
    return response.json()["id"]


def run_audit(client, run, app, headers, file_id) -> dict:
    response = client.post(AUDITS, json={"file_id": file_id}, headers=headers)
    assert response.status_code == 202, response.text
    fixtures.wait_for_audits(run, app)
    return client.get(f"{AUDITS}/{response.json()['id']}", headers=headers).json()


def test_uploaded_zip_is_audited(client, run, app, create_user, tmp_path):
    owner = create_user()
    file_id = upload(client, owner.headers, planted_zip(tmp_path), "planted.zip")
    audit = run_audit(client, run, app, owner.headers, file_id)
    assert audit["status"] == "completed", audit
    assert audit["sourceType"] == "archive" and audit["repository"] == "planted.zip"
    data = client.get(f"{AUDITS}/{audit['id']}/report", headers=owner.headers).json()
    assert {f["kind"] for f in data["findings"]} == {
        "secret_committed",
        "copyleft_in_permissive_project",
        "incompatible_dependency_license",
    }
    assert data["history"]["available"] is False
    assert not (app.state.settings.data_dir / "audits" / audit["id"]).exists()


def test_bad_upload_fails_with_a_reason(client, run, app, create_user):
    owner = create_user()
    file_id = upload(client, owner.headers, zip_bytes({"../../x.txt": b"x"}), "evil.zip")
    audit = run_audit(client, run, app, owner.headers, file_id)
    assert audit["status"] == "failed" and "points outside the archive" in audit["error"]
    data_dir = app.state.settings.data_dir
    assert not (data_dir / "x.txt").exists() and not (data_dir / "audits" / "x.txt").exists()
    bomb = upload(client, owner.headers, zip_bytes({"b": b"\0" * 30_000_000}), "bomb.zip")
    audit = run_audit(client, run, app, owner.headers, bomb)
    assert audit["status"] == "failed" and "archive bomb" in audit["error"]


def test_someone_elses_upload_is_404_and_text_is_400(client, create_user):
    owner, other = create_user(), create_user()
    file_id = upload(client, owner.headers, zip_bytes({"a.txt": b"x"}), "mine.zip")
    response = client.post(AUDITS, json={"file_id": file_id}, headers=other.headers)
    assert response.status_code == 404 and response.json()["code"] == "file_not_found"
    text_id = upload(client, owner.headers, b"just words\n", "notes.txt")
    response = client.post(AUDITS, json={"fileId": text_id}, headers=owner.headers)
    assert response.status_code == 400 and "not a zip or tar.gz" in response.json()["detail"]
