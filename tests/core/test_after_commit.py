"""`db.after_commit` / `db.after_rollback`: one way to run work after a transaction, the same
for request sessions (`SessionDep`) and sessions opened elsewhere (`db.transaction`,
`db.commit`, `db.rollback`)."""

import pytest
from fastapi import APIRouter, FastAPI, Request
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from atrium import db
from atrium.activity.tables import ActivityEvent
from atrium.app import create_app
from atrium.auth.deps import CurrentPrincipal
from atrium.errors import Conflict
from tests.conftest import make_settings

router = APIRouter(prefix="/test-hooks")


@router.post("/{outcome}")
async def change_something(
    request: Request, outcome: str, principal: CurrentPrincipal, session: db.SessionDep
) -> dict:
    log: list[str] = request.app.state.hook_log

    async def committed() -> None:
        log.append("commit")

    async def rolled_back() -> None:
        log.append("rollback")

    for _ in range(3):  # the same key thrice: one hook
        db.after_commit(session, committed, key="once")
    db.after_rollback(session, rolled_back)
    session.add(
        ActivityEvent(
            user_id=principal.user_id, type="system", action="t", title="t", description=outcome
        )
    )
    await session.flush()
    if outcome == "fail":
        raise Conflict("refused after the change was written")
    return {"outcome": outcome}


@pytest.fixture(scope="module")
def app(tmp_path_factory, database_template) -> FastAPI:
    app = create_app(make_settings(tmp_path_factory.mktemp("data"), database_template()))
    app.include_router(router)
    return app


@pytest.fixture
def log(app: FastAPI) -> list[str]:
    app.state.hook_log = []
    return app.state.hook_log


def _events(client: TestClient, app: FastAPI, outcome: str) -> int:
    async def count() -> int:
        async with app.state.db.sessions() as session:
            found = await session.scalar(
                select(func.count()).where(ActivityEvent.description == outcome)
            )
            return int(found or 0)

    return client.portal.call(count)


def test_a_request_that_commits_runs_its_commit_hooks_once(client, app, create_user, log):
    user = create_user()
    response = client.post("/test-hooks/ok", headers=user.headers)
    assert response.status_code == 200
    assert log == ["commit"]
    assert _events(client, app, "ok") == 1


def test_a_request_that_fails_runs_its_rollback_hooks_only(client, app, create_user, log):
    user = create_user()
    response = client.post("/test-hooks/fail", headers=user.headers)
    assert response.status_code == 409
    assert log == ["rollback"]
    assert _events(client, app, "fail") == 0


def test_sessions_outside_requests_run_the_same_hooks(client, app, log) -> None:
    async def work() -> None:
        async def note(what: str) -> None:
            log.append(what)

        async with db.transaction(app.state.db.sessions) as session:
            db.after_commit(session, lambda: note("commit 1"))
            db.after_rollback(session, lambda: note("never"))
        with pytest.raises(RuntimeError):
            async with db.transaction(app.state.db.sessions) as session:
                db.after_commit(session, lambda: note("never"))
                db.after_rollback(session, lambda: note("rollback 2"))
                raise RuntimeError("the work failed")
        async with app.state.db.sessions() as session:  # one session, two transactions
            db.after_commit(session, lambda: note("commit 3"))
            await db.commit(session)
            db.after_commit(session, lambda: note("never"))
            db.after_rollback(session, lambda: note("rollback 4"))
            await db.rollback(session)
            await db.commit(session)  # nothing left to run

    client.portal.call(work)
    assert log == ["commit 1", "rollback 2", "commit 3", "rollback 4"]


def test_a_failing_hook_does_not_stop_the_others(client, app, log) -> None:
    async def work() -> None:
        async def fail() -> None:
            raise OSError("storage unreachable")

        async def note() -> None:
            log.append("ran")

        async with app.state.db.sessions() as session:
            db.after_commit(session, fail)
            db.after_commit(session, note)
            with pytest.raises(OSError):
                await db.commit(session)

    client.portal.call(work)
    assert log == ["ran"]
