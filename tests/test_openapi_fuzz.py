"""Schemathesis over every operation of the OpenAPI document, against a real database:
no server error, and every status, content type, body and header as documented.

Each operation gets a fixed number of seeded examples (positive and negative data), sent with
an administrator's key and with an ordinary user's key. The document is read from an app built
at collection time, so routes added later are fuzzed without touching this file; only the
operations listed in `LEFT_OUT` (they revoke the fuzzer's own credentials) are skipped.
"""

import secrets
import tempfile
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.config import SchemathesisConfig
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from atrium.app import create_app
from tests.conftest import make_settings, make_user

EXAMPLES = 20
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]
# Operations that would revoke or lock out the fuzzer's own credentials (its users, their
# keys, the roles' grants): random ids reach the fuzzer's own rows.
LEFT_OUT = {
    ("DELETE", "/api/v1/admin/users/{user_id}"),
    ("PATCH", "/api/v1/admin/users/{user_id}"),
    ("PUT", "/vault/admin/users/{user_id}"),
    ("DELETE", "/vault/admin/users/{user_id}"),
    ("DELETE", "/api/v1/tokens/{token_id}"),
    ("PATCH", "/api/v1/tokens/{token_id}"),
    ("POST", "/api/v1/tokens/{token_id}/refresh"),
    ("DELETE", "/vault/admin/keys/{key_id}"),
    ("PUT", "/api/v1/permissions/roles/{role_id}"),
    ("DELETE", "/api/v1/permissions/roles/{role_id}"),
    ("POST", "/api/v1/permissions/revoke"),
    ("POST", "/api/v1/permissions/bulk-revoke"),
}
# A 5xx other than these is a defect; these are documented answers about upstreams and
# missing dependencies.
EXPECTED_STATUSES = ["2XX", "3XX", "4XX", "502", "503", "504"]


def _document() -> dict[str, Any]:
    folder = Path(tempfile.mkdtemp(prefix="atrium-openapi-"))
    app = create_app(make_settings(folder, f"sqlite+aiosqlite:///{folder / 'spec.db'}"))
    return app.openapi()


SCHEMA = schemathesis.openapi.from_dict(
    _document(),
    config=SchemathesisConfig.from_dict(
        {"checks": {"not_a_server_error": {"expected-statuses": EXPECTED_STATUSES}}}
    ),
)
OPERATIONS = {
    f"{operation.method.upper()} {operation.path}": operation
    for operation in (result.ok() for result in SCHEMA.get_all_operations())
    if (operation.method.upper(), operation.path) not in LEFT_OUT
}


@pytest.fixture(scope="module")
def credentials(client: TestClient, app: FastAPI) -> dict[str, dict[str, str]]:
    from atrium.auth.principal import key_digest
    from atrium.keys.tables import ApiKey

    found = {}
    for role in ("admin", "user"):
        user = make_user(client, app, role)
        secret = f"atr_{secrets.token_urlsafe(32)}"

        async def insert(user_id: int = user.id, secret: str = secret) -> None:
            async with app.state.db.sessions() as session:
                session.add(
                    ApiKey(
                        user_id=user_id, name="fuzz", prefix=secret[:12], digest=key_digest(secret)
                    )
                )
                await session.commit()

        client.portal.call(insert)
        found[role] = {"Authorization": f"Bearer {secret}"}
    return found


def _wire(content: Any) -> Any:
    """Negative data may put a number where a file's bytes go; on the wire it is its text."""
    if isinstance(content, bytes | str) or hasattr(content, "read"):
        return content
    return str(content).encode()


def _files(files: Any) -> list[tuple[str, Any]]:
    items = files.items() if isinstance(files, dict) else files
    parts = []
    for name, value in items:
        if isinstance(value, tuple):
            value = (value[0], _wire(value[1]), *value[2:])
        else:
            value = _wire(value)
        parts.append((name, value))
    return parts


def _send(client: TestClient, case: Any, headers: dict[str, str]) -> Any:
    kwargs = case.as_transport_kwargs(base_url="http://testserver")
    kwargs["headers"] = {**(kwargs.get("headers") or {}), **headers}
    kwargs.pop("timeout", None)
    kwargs.pop("verify", None)
    kwargs.pop("allow_redirects", None)
    if kwargs.get("files"):
        kwargs["files"] = _files(kwargs["files"])
    if "data" in kwargs and not isinstance(kwargs["data"], dict):
        kwargs["content"] = kwargs.pop("data")
    request = client.build_request(**kwargs)
    request.read()  # a multipart body is a stream; a failure report reads it again
    return client.send(request, follow_redirects=False)


@pytest.mark.parametrize("label", sorted(OPERATIONS))
@pytest.mark.parametrize("role", ["admin", "user"])
def test_operation_conforms(client: TestClient, credentials, label: str, role: str) -> None:
    operation = OPERATIONS[label]
    strategy = operation.as_strategy(GenerationMode.POSITIVE) | operation.as_strategy(
        GenerationMode.NEGATIVE
    )

    @settings(
        max_examples=EXAMPLES,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        print_blob=False,
    )
    @given(case=strategy)
    def check(case: Any) -> None:
        response = _send(client, case, credentials[role])
        case.validate_response(response, checks=CHECKS)

    check()
