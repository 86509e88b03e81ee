"""The same socket checks with the Redis bus (ATRIUM_REDIS_URL set)."""

import pytest

from tests import services
from tests.jobs.helpers import JOB_SETTINGS
from tests.jobs.test_job_sockets import (  # noqa: F401 - the same checks, over Redis pub/sub
    test_progress_reaches_a_websocket_live,
    test_user_socket_carries_every_job_the_caller_may_read,
    test_user_socket_carries_the_users_job_events,
)


@pytest.fixture(scope="module")
def settings_overrides() -> dict[str, object]:
    url = services.redis_server()
    if url is None:
        services.unavailable("Redis")
    return {**JOB_SETTINGS, "redis_url": url}


def test_the_bus_is_redis(app):
    assert type(app.state.bus).__name__ == "RedisBus"
