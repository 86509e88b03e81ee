"""The read paths shape rows into dicts and send them with `shapes.json_bytes`, bypassing
FastAPI's response validation; these prove the bytes are exactly what the routes' declared
response models would have sent (FastAPI validates from attributes, then dumps by alias)."""

from datetime import UTC, datetime
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

import pytest
from pydantic import TypeAdapter

from atrium.conversations.messages import message_read
from atrium.conversations.schemas import (
    ConversationDetail,
    ConversationSummary,
    MessageRead,
    message_fields,
    summary_fields,
)
from atrium.files import service as files_service
from atrium.files.schemas import FileRead
from atrium.keys.schemas import TokenRead, token_read
from atrium.projects.schemas import ProjectRead, project_fields
from atrium.shapes import json_bytes
from atrium.surfaces.vault import conversations as vault
from atrium.surfaces.vault.keys import VaultKeyRead, vault_key_read
from atrium.surfaces.vault.users import VaultUserRead, vault_user_read
from atrium.users.schemas import AdminUserRead, admin_user_read

KEY = b"k" * 32
ON_THE_SECOND = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
WITH_MICROS = datetime(2026, 12, 31, 23, 59, 59, 120000, tzinfo=UTC)
TEXT = 'Café "quoted" \\ back\nslash ✓ \u2028 </script> \x7f'


def as_declared(model: Any, value: Any) -> bytes:
    adapter = TypeAdapter(model)
    return adapter.dump_json(adapter.validate_python(value, from_attributes=True), by_alias=True)


CONVERSATIONS = [
    SimpleNamespace(
        id=7,
        title=TEXT,
        project_id=None,
        model_id=None,
        message_count=0,
        created_at=ON_THE_SECOND,
        updated_at=WITH_MICROS,
    ),
    SimpleNamespace(
        id=2**31 - 1,
        title="",
        project_id=3,
        model_id="provider/model",
        message_count=12,
        created_at=WITH_MICROS,
        updated_at=ON_THE_SECOND,
    ),
]
FILES = [
    SimpleNamespace(
        id=5,
        filename=TEXT,
        mime_type="image/png",
        size=0,
        sha256="ab" * 32,
        storage_key="x/y",
        created_at=WITH_MICROS,
    ),
    SimpleNamespace(
        id=6,
        filename="b.txt",
        mime_type="text/plain",
        size=2**40,
        sha256="cd" * 32,
        storage_key="z",
        created_at=ON_THE_SECOND,
    ),
]
MESSAGES = [
    SimpleNamespace(
        id=11,
        role="user",
        content=TEXT,
        model=None,
        incomplete=False,
        meta=None,
        thinking_content=None,
        thinking_duration_ms=None,
        created_at=ON_THE_SECOND,
    ),
    SimpleNamespace(
        id=12,
        role="assistant",
        content="",
        model="m",
        incomplete=True,
        meta={"warnings": ["no search", TEXT]},
        thinking_content=TEXT,
        thinking_duration_ms=None,
        created_at=WITH_MICROS,
    ),
    SimpleNamespace(
        id=13,
        role="assistant",
        content="x",
        model="m",
        incomplete=False,
        meta={},
        thinking_content="",
        thinking_duration_ms=1200,
        created_at=WITH_MICROS,
    ),
]


@pytest.fixture
def fixed_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    """Signed links carry their expiry: both shapes must sign at the same instant."""
    monkeypatch.setattr(files_service.time, "time", lambda: 1_900_000_000.5)


def test_conversation_summaries() -> None:
    expected = as_declared(list[ConversationSummary], CONVERSATIONS)
    assert json_bytes([summary_fields(row) for row in CONVERSATIONS]) == expected


@pytest.mark.usefixtures("fixed_clock")
def test_files() -> None:
    assert json_bytes([files_service.file_fields(KEY, f) for f in FILES]) == as_declared(
        list[FileRead], [files_service.describe(KEY, f) for f in FILES]
    )


@pytest.mark.usefixtures("fixed_clock")
def test_conversation_detail_with_messages_and_attachments() -> None:
    attached = {11: FILES, 12: [], 13: FILES[1:]}
    declared = [message_read(KEY, m, attached[m.id]) for m in MESSAGES]  # type: ignore[arg-type]
    shaped = [
        message_fields(m, [files_service.file_fields(KEY, f) for f in attached[m.id]])
        for m in MESSAGES
    ]
    assert json_bytes(shaped) == as_declared(list[MessageRead], declared)
    detail = ConversationDetail.model_validate(CONVERSATIONS[1])
    detail.messages = declared
    assert json_bytes({**summary_fields(CONVERSATIONS[1]), "messages": shaped}) == as_declared(
        ConversationDetail, detail
    )


def test_projects() -> None:
    projects = [
        SimpleNamespace(
            id=3,
            name=TEXT,
            description=None,
            color="#fff",
            created_at=ON_THE_SECOND,
            updated_at=WITH_MICROS,
            conversations=CONVERSATIONS,
        ),
        SimpleNamespace(
            id=4,
            name="p",
            description="",
            color=None,
            created_at=WITH_MICROS,
            updated_at=WITH_MICROS,
            conversations=[],
        ),
    ]
    shaped = [project_fields(p, [summary_fields(row) for row in p.conversations]) for p in projects]
    assert json_bytes(shaped) == as_declared(list[ProjectRead], projects)


def test_vault_conversations() -> None:
    summaries = [vault.summary_fields(row) for row in CONVERSATIONS]
    assert json_bytes(summaries) == as_declared(list[vault.VaultConversationSummary], summaries)
    row = CONVERSATIONS[1]
    detail = {
        "id": str(row.id),
        "title": row.title,
        "model_id": row.model_id,
        "messages": [vault.message_fields(m) for m in MESSAGES],  # type: ignore[arg-type]
        "created_at": vault.epoch_ms(row.created_at),
        "updated_at": vault.epoch_ms(row.updated_at),
    }
    assert json_bytes(detail) == as_declared(vault.VaultConversation, detail)


def test_users_and_keys() -> None:
    user = SimpleNamespace(
        id=1,
        email="a@example.com",
        username="a",
        full_name=TEXT,
        role="admin",
        is_active=True,
        auth_source="local",
        rpm_limit=None,
        tpm_limit=10,
        monthly_budget_usd=Decimal("12.3400"),
        last_active_at=None,
        created_at=WITH_MICROS,
    )
    shaped = admin_user_read(user)  # type: ignore[arg-type]
    assert json_bytes(shaped) == as_declared(AdminUserRead, shaped)
    vault_shaped = vault_user_read(user, 3)
    assert json_bytes(vault_shaped) == as_declared(VaultUserRead, vault_shaped)
    key = SimpleNamespace(
        id=9,
        name=TEXT,
        prefix="atr_abcdefgh",
        scopes=["conversations:read"],
        scope_label=None,
        rpm_limit=None,
        tpm_limit=None,
        monthly_budget_usd=Decimal("0.1000"),
        expires_at=ON_THE_SECOND,
        last_used_at=None,
        revoked_at=None,
        created_at=WITH_MICROS,
    )
    token = token_read(key)  # type: ignore[arg-type]
    assert json_bytes(token) == as_declared(TokenRead, token)
    vault_key = vault_key_read(key)
    assert json_bytes(vault_key) == as_declared(VaultKeyRead, vault_key)
