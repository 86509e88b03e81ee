"""Job events over WebSockets: `/ws/jobs/{id}`, the per-user `/ws/events`, and refusals."""

import pytest
from starlette.websockets import WebSocketDisconnect

from atrium.auth.websocket import CLOSE_NOT_FOUND, CLOSE_UNAUTHENTICATED
from tests.jobs.helpers import JOB_SETTINGS, enqueue, wait_for


@pytest.fixture(scope="module")
def settings_overrides() -> dict[str, object]:
    return dict(JOB_SETTINGS)


def _messages_until_close(socket) -> list[dict]:
    received = []
    while True:
        message = socket.receive()
        if message["type"] == "websocket.close":
            return received
        import json

        received.append(json.loads(message["text"]))


def test_progress_reaches_a_websocket_live(client, app, create_user, tmp_path):
    user = create_user("user")
    job_id = enqueue(client, app, "test.steps", user.id, steps=3, gate_dir=str(tmp_path))
    wait_for(client, app, job_id, "running")
    with client.websocket_connect(f"/ws/jobs/{job_id}", headers=user.headers) as socket:
        first = socket.receive_json()
        assert first["type"] == "started" and first["status"] == "running"
        for step in range(3):
            (tmp_path / f"go-{step}").touch()
        rest = _messages_until_close(socket)
    progress = [m["progress"] for m in rest if m["type"] == "progress"]
    assert progress == pytest.approx([1 / 3, 2 / 3, 1.0])
    assert rest[-1]["type"] == "completed" and rest[-1]["status"] == "completed"
    assert [m["seq"] for m in [first, *rest]] == list(range(1, len(rest) + 2))


def test_socket_credentials_by_query_and_subprotocol(client, app, create_user):
    user = create_user("user")
    job_id = enqueue(client, app, "test.steps", user.id, steps=1)
    wait_for(client, app, job_id, "completed")
    with client.websocket_connect(f"/ws/jobs/{job_id}?token={user.token}") as socket:
        assert [m["type"] for m in _messages_until_close(socket)][-1] == "completed"
    with client.websocket_connect(
        f"/ws/jobs/{job_id}?after=2", subprotocols=["bearer", user.token]
    ) as socket:
        assert socket.accepted_subprotocol == "bearer"
        assert [m["seq"] for m in _messages_until_close(socket)] == [3]


def test_unauthenticated_and_foreign_sockets_are_refused(client, app, create_user):
    owner, other = create_user("user"), create_user("user")
    job_id = enqueue(client, app, "test.steps", owner.id, steps=1)
    for path in (f"/ws/jobs/{job_id}", "/ws/events", f"/ws/jobs/{job_id}?token=nonsense"):
        with client.websocket_connect(path) as socket, pytest.raises(WebSocketDisconnect) as err:
            socket.receive_json()
        assert err.value.code == CLOSE_UNAUTHENTICATED, path
    with (
        client.websocket_connect(f"/ws/jobs/{job_id}", headers=other.headers) as socket,
        pytest.raises(WebSocketDisconnect) as err,
    ):
        socket.receive_json()
    assert err.value.code == CLOSE_NOT_FOUND


def test_user_socket_carries_the_users_job_events(client, app, create_user):
    user, other = create_user("user"), create_user("user")
    with client.websocket_connect("/ws/events", headers=user.headers) as socket:
        enqueue(client, app, "test.steps", other.id, steps=1)  # not theirs: never sent
        job_id = enqueue(client, app, "test.steps", user.id, steps=1)
        seen = []
        while not seen or seen[-1]["type"] != "completed":
            message = socket.receive_json()
            seen.append(message)
    assert {m["job_id"] for m in seen} == {job_id}
    assert [m["type"] for m in seen] == ["started", "progress", "completed"]
    assert seen[0]["kind"] == "test.steps" and seen[-1]["data"]["status"] == "completed"


def test_user_socket_carries_every_job_the_caller_may_read(client, app, create_user, admin):
    owner, stranger = create_user("user"), create_user("user")
    with (
        client.websocket_connect("/ws/events", headers=admin.headers) as wide,
        client.websocket_connect("/ws/events", headers=stranger.headers) as narrow,
    ):
        theirs = enqueue(client, app, "test.steps", owner.id, steps=1)
        seen = []  # a Redis bus may also carry other deployments' jobs: keep this one's
        while not seen or seen[-1]["type"] != "completed":
            message = wide.receive_json()
            if message["job_id"] == theirs:
                seen.append(message)
        mine = enqueue(client, app, "test.steps", stranger.id, steps=1)
        first = narrow.receive_json()  # the owner's job never reaches the stranger
    assert [m["type"] for m in seen] == ["started", "progress", "completed"]
    assert first["job_id"] == mine and first["type"] == "started"
