"""A whole conversation as a JSON or Markdown download."""

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from atrium.auth.principal import Principal
from atrium.conversations import service as conversations_service
from atrium.conversations.messages import attachments_of
from atrium.conversations.tables import Conversation, Message
from atrium.db import utcnow
from atrium.files.service import FileRecord

MEDIA_TYPES = {"json": "application/json", "markdown": "text/markdown"}
EXTENSIONS = {"json": "json", "markdown": "md"}


@dataclass(frozen=True, slots=True)
class Export:
    filename: str
    media_type: str
    document: str


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


async def export(
    session: AsyncSession,
    principal: Principal,
    conversation_id: int,
    fmt: Literal["json", "markdown"],
) -> Export:
    """The conversation with every message and attachment, as a named document."""
    conversation = await conversations_service.get_owned(session, principal, conversation_id)
    messages = list(
        await session.scalars(
            select(Message).where(Message.conversation_id == conversation.id).order_by(Message.id)
        )
    )
    attachments = await attachments_of(session, [message.id for message in messages])
    render = _export_json if fmt == "json" else _export_markdown
    return Export(
        filename=f"conversation-{conversation.id}.{EXTENSIONS[fmt]}",
        media_type=MEDIA_TYPES[fmt],
        document=render(conversation, messages, attachments),
    )


def _export_json(
    conversation: Conversation, messages: list[Message], attachments: dict[int, list[FileRecord]]
) -> str:
    document = {
        "id": str(conversation.id),
        "title": conversation.title,
        "project_id": None if conversation.project_id is None else str(conversation.project_id),
        "model": conversation.model_id,
        "createdAt": _iso(conversation.created_at),
        "updatedAt": _iso(conversation.updated_at),
        "messages": [
            {
                "id": str(message.id),
                "role": message.role,
                "content": message.content,
                "timestamp": _iso(message.created_at),
                "model": message.model,
                "incomplete": message.incomplete,
                "attachments": [
                    {
                        "id": str(file.id),
                        "filename": file.filename,
                        "mime_type": file.mime_type,
                        "file_size": file.size,
                        "sha256": file.sha256,
                    }
                    for file in attachments.get(message.id, [])
                ],
            }
            for message in messages
        ],
    }
    return json.dumps(document, ensure_ascii=False, indent=2)


def _export_markdown(
    conversation: Conversation, messages: list[Message], attachments: dict[int, list[FileRecord]]
) -> str:
    lines = [f"# {conversation.title}", "", f"_Exported {_iso(utcnow())}_", ""]
    for message in messages:
        heading = message.role.capitalize()
        if message.model:
            heading += f" ({message.model})"
        lines += [f"## {heading} — {_iso(message.created_at)}", "", message.content, ""]
        if message.incomplete:
            lines += ["_(reply cut off before it finished)_", ""]
        for file in attachments.get(message.id, []):
            lines.append(f"- Attachment: {file.filename} ({file.mime_type}, {file.size} bytes)")
        if attachments.get(message.id):
            lines.append("")
    return "\n".join(lines)
