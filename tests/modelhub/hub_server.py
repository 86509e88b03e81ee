"""A small server laid out like the Hugging Face hub's API, for the registry's tests: model
search and info (`/api/models…`, siblings with sizes, blob ids and LFS sha256) and file
downloads (`/{repo}/resolve/{rev}/{file}` with Range, ETag, X-Repo-Commit, X-Linked-Etag)."""

import hashlib
import json
import struct
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlparse


def safetensors_bytes(count: int) -> bytes:
    """A valid safetensors file holding one float32 tensor of `count` values."""
    header = json.dumps(
        {"weight": {"dtype": "F32", "shape": [count], "data_offsets": [0, 4 * count]}}
    ).encode()
    data = b"".join(struct.pack("<f", i / 7) for i in range(count))
    return struct.pack("<Q", len(header)) + header + data


@dataclass
class HubRepo:
    id: str
    files: dict[str, bytes]
    sha: str = "0123456789abcdef0123456789abcdef01234567"
    tags: list[str] = field(default_factory=lambda: ["transformers", "safetensors"])
    pipeline_tag: str = "text-generation"
    downloads: int = 10
    likes: int = 1

    def card(self) -> dict:
        return {
            "id": self.id,
            "modelId": self.id,
            "author": self.id.split("/")[0],
            "sha": self.sha,
            "downloads": self.downloads,
            "likes": self.likes,
            "tags": self.tags,
            "pipeline_tag": self.pipeline_tag,
            "library_name": "transformers",
            "createdAt": "2026-01-02T03:04:05.000Z",
            "lastModified": "2026-02-03T04:05:06.000Z",
        }


def is_lfs(name: str) -> bool:
    return name.endswith((".safetensors", ".gguf", ".bin"))


def git_blob_id(data: bytes) -> str:
    return hashlib.sha1(f"blob {len(data)}\0".encode() + data, usedforsecurity=False).hexdigest()


def sibling(name: str, data: bytes) -> dict:
    entry = {"rfilename": name, "size": len(data), "blobId": git_blob_id(data)}
    if is_lfs(name):
        entry["lfs"] = {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data),
                        "pointerSize": 130}  # fmt: skip
    return entry


class FakeHub:
    def __init__(self) -> None:
        self.repos: dict[str, HubRepo] = {}
        self.served: dict[str, int] = {}  # file name -> body bytes sent
        self.cut_after: dict[str, int] = {}  # file name -> drop the connection after N bytes, once
        self.broken = False
        self.corrupt: set[str] = set()
        self.lock = threading.Lock()
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                hub.handle(self)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def add(self, repo: HubRepo) -> None:
        self.repos[repo.id] = repo

    def handle(self, request: BaseHTTPRequestHandler) -> None:
        if self.broken:
            request.close_connection = True
            request.connection.close()
            return
        url = urlparse(request.path)
        path = unquote(url.path)
        if path == "/api/models":
            return self.search(request, parse_qs(url.query))
        if path.startswith("/api/models/"):
            repo_id = path.removeprefix("/api/models/").split("/revision/")[0]
            repo = self.repos.get(repo_id)
            if repo is None:
                return self.json(request, 404, {"error": "Repository not found"}, missing=True)
            body = {**repo.card(), "siblings": [sibling(n, d) for n, d in repo.files.items()]}
            return self.json(request, 200, body)
        if "/resolve/" in path:
            return self.resolve(request, path)
        self.json(request, 404, {"error": "not found"})

    def search(self, request: BaseHTTPRequestHandler, query: dict[str, list[str]]) -> None:
        term = (query.get("search") or [""])[0].lower()
        found = [repo.card() for repo in self.repos.values() if term in repo.id.lower()]
        if query.get("sort") == ["downloads"]:
            found.sort(key=lambda card: -card["downloads"])
        limit = int((query.get("limit") or ["1000"])[0])
        self.json(request, 200, found[:limit])

    def resolve(self, request: BaseHTTPRequestHandler, path: str) -> None:
        repo_part, rest = path.lstrip("/").split("/resolve/", 1)
        revision, name = rest.split("/", 1)
        repo = self.repos.get(repo_part)
        if repo is None or name not in repo.files or revision not in (repo.sha, "main"):
            return self.json(request, 404, {"error": "Entry not found"}, missing=True)
        data = repo.files[name]
        if name in self.corrupt:
            data = data[:-1] + bytes([data[-1] ^ 1])
        start = 0
        header = request.headers.get("Range")
        if header:
            start = int(header.removeprefix("bytes=").split("-")[0])
        if start >= len(data):
            request.send_response(416)
            request.send_header("Content-Range", f"bytes */{len(data)}")
            request.end_headers()
            return
        body = data[start:]
        request.send_response(206 if header else 200)
        if header:
            request.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        request.send_header("Content-Length", str(len(body)))
        request.send_header("Accept-Ranges", "bytes")
        request.send_header("X-Repo-Commit", repo.sha)
        etag = hashlib.sha256(data).hexdigest() if is_lfs(name) else git_blob_id(data)
        request.send_header("ETag", f'"{etag}"')
        if is_lfs(name):
            request.send_header("X-Linked-Etag", f'"{etag}"')
            request.send_header("X-Linked-Size", str(len(data)))
        request.end_headers()
        with self.lock:
            cut = self.cut_after.pop(name, None)
        if cut is not None:
            body = body[:cut]
        request.wfile.write(body)
        request.wfile.flush()
        with self.lock:
            self.served[name] = self.served.get(name, 0) + len(body)
        if cut is not None:
            request.close_connection = True
            request.connection.close()

    def json(
        self, request: BaseHTTPRequestHandler, status: int, body: object, missing: bool = False
    ) -> None:
        payload = json.dumps(body).encode()
        request.send_response(status)
        request.send_header("Content-Type", "application/json")
        request.send_header("Content-Length", str(len(payload)))
        if missing:
            request.send_header("X-Error-Code", "RepoNotFound")
        request.end_headers()
        request.wfile.write(payload)
