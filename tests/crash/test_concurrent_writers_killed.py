"""SIGKILL of the server under concurrent writers: every write answered 2xx is there after a
restart (a 2xx means committed), and none is applied twice."""

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.crash.server import ServerProcess, wait_until

WRITERS = 8


@pytest.fixture
def server(tmp_path: Path, database_template: Callable[[], str]) -> Iterator[ServerProcess]:
    process = ServerProcess(tmp_path / "data", database_template())
    process.start()
    try:
        yield process
    finally:
        process.stop()


class Writer(threading.Thread):
    """Posts messages with unique contents until the server dies; remembers the answered."""

    def __init__(self, server: ServerProcess, headers: dict[str, str], path: str, name: str):
        super().__init__(daemon=True)
        self.server, self.headers, self.path, self.tag = server, headers, path, name
        self.acknowledged: list[str] = []
        self.created: list[int] = []

    def run(self) -> None:
        with httpx.Client(base_url=self.server.base, timeout=10) as http:
            n = 0
            while True:
                n += 1
                content = f"{self.tag} message {n}"
                try:
                    answer = http.post(
                        self.path, json={"role": "user", "content": content}, headers=self.headers
                    )
                    if answer.status_code == 201:
                        self.acknowledged.append(content)
                    created = http.post(
                        "/api/v1/conversations", json={"title": content}, headers=self.headers
                    )
                    if created.status_code == 201:
                        self.created.append(created.json()["id"])
                except httpx.HTTPError:
                    return  # the server is gone


def test_kill_under_concurrent_writers_keeps_every_answered_write_once(server):
    headers = server.admin_headers()
    with server.client() as http:
        created = http.post(
            "/vault/conversations", json={"title": "Crash", "model_id": "m"}, headers=headers
        )
        assert created.status_code == 201
    conversation_id = created.json()["id"]
    path = f"/vault/conversations/{conversation_id}/messages"
    writers = [Writer(server, headers, path, f"writer {n}") for n in range(WRITERS)]
    for writer in writers:
        writer.start()
    wait_until(lambda: sum(len(w.acknowledged) for w in writers) >= 40, "answered writes", 60)
    time.sleep(0.2)  # writes in flight at the kill
    server.kill()
    for writer in writers:
        writer.join(15)

    server.start()
    headers = server.admin_headers()
    with server.client() as http:
        messages = http.get(f"/api/v1/conversations/{conversation_id}/messages", headers=headers)
        conversation = http.get(f"/api/v1/conversations/{conversation_id}", headers=headers)
        listed = http.get("/api/v1/conversations?limit=1000", headers=headers)
    stored = [message["content"] for message in messages.json()]
    answered = [content for writer in writers for content in writer.acknowledged]
    assert set(answered) <= set(stored), "a write answered 2xx was lost"
    assert len(stored) == len(set(stored)), "a write was applied twice"
    assert conversation.json()["messageCount"] == len(stored)
    kept = {item["id"] for item in listed.json()}
    created = [ident for writer in writers for ident in writer.created]
    assert set(created) <= kept, "a create answered 201 was lost"
    titles = [item["title"] for item in listed.json() if item["id"] != conversation_id]
    assert len(titles) == len(set(titles)), "a create was applied twice"
