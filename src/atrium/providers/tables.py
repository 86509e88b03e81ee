"""The LLM providers a user or an administrator configured."""

from datetime import datetime

from sqlalchemy import JSON, Boolean, ForeignKey, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from atrium.db import Base, UTCDateTime, utcnow


class LlmProvider(Base):
    __tablename__ = "llm_provider"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # null owner: a global provider (created by an administrator)
    owner_id: Mapped[int | None] = mapped_column(
        ForeignKey("app_user.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(100))
    type: Mapped[str] = mapped_column(String(32))
    api_base: Mapped[str | None] = mapped_column(String(500))
    api_key_encrypted: Mapped[bytes | None] = mapped_column(LargeBinary)
    api_key_hint: Mapped[str | None] = mapped_column(String(16))
    models: Mapped[list[str]] = mapped_column(JSON, default=list)  # pinned; empty: discovered
    discovered_models: Mapped[list[str]] = mapped_column(JSON, default=list)
    # {model: {context_window, supports_vision, ...}} as the provider reported them
    discovered_metadata: Mapped[dict] = mapped_column(JSON, default=dict)
    discovered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # {model: {...}} set by whoever may change the provider; wins over what was discovered
    model_metadata: Mapped[dict] = mapped_column(JSON, default=dict)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    settings: Mapped[dict] = mapped_column(JSON, default=dict)
    description: Mapped[str | None] = mapped_column(String(500))
    last_test_status: Mapped[str | None] = mapped_column(String(16))
    last_test_time: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_test_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
