from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from atrium.db import Base, UTCDateTime, utcnow


class Audit(Base):
    """One repository audit: its source, its progress and, once completed, its reports."""

    __tablename__ = "audit"
    __table_args__ = (
        Index("ix_audit_user_id_id", "user_id", "id"),
        Index("ix_audit_user_id_completed_at", "user_id", "completed_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("app_user.id", ondelete="CASCADE"))
    source_type: Mapped[str] = mapped_column(String(16))  # git | path | archive
    repository: Mapped[str] = mapped_column(String(2048))
    branch: Mapped[str | None] = mapped_column(String(255))
    file_id: Mapped[int | None] = mapped_column(ForeignKey("file.id", ondelete="SET NULL"))
    archive_key: Mapped[str | None] = mapped_column(String(300))
    allow_private: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    progress: Mapped[float] = mapped_column(Float, default=0.0)
    stage: Mapped[str | None] = mapped_column(String(200))
    files_scanned: Mapped[int] = mapped_column(Integer, default=0)
    summary: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    error: Mapped[str | None] = mapped_column(Text)
    job_id: Mapped[int | None] = mapped_column(Integer)
    reports: Mapped[dict[str, Any] | None] = mapped_column(JSON)  # format -> {key, bytes}
    report_bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
