from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from atrium.db import Base, UTCDateTime, utcnow


class TrainingJob(Base):
    """A fine-tuning run: what to train and how. Its status, progress and error are the job's
    (`job_id`, the engine's row); the metrics the trainer reports are kept here."""

    __tablename__ = "training_job"
    __table_args__ = (Index("ix_training_job_user_id_id", "user_id", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("app_user.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200))
    base_model: Mapped[str] = mapped_column(String(500))  # as given: registry id or path
    base_model_path: Mapped[str] = mapped_column(Text)
    dataset: Mapped[str] = mapped_column(String(1000))  # as given: file id or path
    dataset_file_id: Mapped[int | None] = mapped_column(ForeignKey("file.id", ondelete="SET NULL"))
    dataset_key: Mapped[str | None] = mapped_column(String(300))  # the file's storage key
    dataset_path: Mapped[str | None] = mapped_column(Text)
    dataset_rows: Mapped[int] = mapped_column(Integer, default=0)
    config: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    resource_allocation: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    adapter_type: Mapped[str] = mapped_column(String(16), default="lora")
    lora_config: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    metrics: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    output_model: Mapped[str | None] = mapped_column(String(300))  # the registry id of the result
    experiment_id: Mapped[int | None] = mapped_column(
        ForeignKey("lab_experiment.id", ondelete="SET NULL")
    )
    job_id: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class TrainingDataset(Base):
    """An uploaded JSONL file registered as a training dataset: checked once, its rows counted."""

    __tablename__ = "training_dataset"
    __table_args__ = (Index("ix_training_dataset_user_id_id", "user_id", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("app_user.id", ondelete="CASCADE"))
    file_id: Mapped[int] = mapped_column(ForeignKey("file.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text)
    format: Mapped[str] = mapped_column(String(32))  # prompt_completion | chat | text | mixed
    row_count: Mapped[int] = mapped_column(Integer, default=0)
    size_bytes: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class LabExperiment(Base):
    """Seed 003's lab: an experiment groups training runs to compare them."""

    __tablename__ = "lab_experiment"
    __table_args__ = (Index("ix_lab_experiment_user_id_id", "user_id", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("app_user.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
