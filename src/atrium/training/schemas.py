"""Training shapes: Vault's TrainingJobResponse (CONTRACTS, seed 000) for both prefixes; the
hyper-parameters are checked here, so a negative learning rate is a 422 before anything runs."""

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, field_validator, model_validator

from atrium.jobs.schemas import StrId
from atrium.params import Id
from atrium.text import DisplayName

AdapterType = Literal["lora", "qlora", "full"]
TrainingStatus = Literal["queued", "running", "paused", "completed", "failed", "cancelled"]
ModuleName = Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.]+$")]


class TrainingConfig(BaseModel):
    """Seed 000's TrainingConfig, with the trainer's own knobs (all optional)."""

    model_config = ConfigDict(extra="forbid")

    epochs: int = Field(default=10, ge=1, le=1000)
    batch_size: int = Field(default=32, ge=1, le=4096)
    learning_rate: float = Field(default=0.0001, gt=0, le=1)
    warmup_steps: int = Field(default=100, ge=0, le=10_000_000)
    weight_decay: float = Field(default=0.01, ge=0, le=1)
    optimizer: Literal["adamw", "sgd"] = "adamw"
    scheduler: Literal["cosine", "linear", "constant"] = "cosine"
    max_steps: int | None = Field(
        default=None, ge=1, le=10_000_000, description="Stop after this many steps (else epochs)"
    )
    max_length: int = Field(default=512, ge=8, le=32768, description="Tokens per row, at most")
    checkpoint_every: int = Field(
        default=50, ge=1, le=10_000_000, description="Steps between checkpoints"
    )
    eval_fraction: float = Field(
        default=0.0, ge=0, lt=1, description="Rows held out to report an eval loss (0: none)"
    )
    seed: int = Field(default=0, ge=0, le=2**31 - 1)


class LoraConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rank: int = Field(default=16, ge=1, le=1024)
    alpha: int = Field(default=32, ge=1, le=4096)
    dropout: float = Field(default=0.05, ge=0, lt=1)
    target_modules: list[ModuleName] | None = Field(
        default=None, max_length=64, description="Default: peft's choice for the architecture"
    )
    quantization_bits: int | None = Field(default=None, ge=4, le=8, description="4 or 8 (QLoRA)")

    @field_validator("quantization_bits")
    @classmethod
    def four_or_eight(cls, value: int | None) -> int | None:
        if value not in (None, 4, 8):
            raise ValueError("quantization_bits is 4 or 8")
        return value


class ResourceAllocation(BaseModel):
    gpu_count: int = Field(default=1, ge=0, le=64)
    gpu_memory: str = Field(default="24GB", max_length=20)
    estimated_time: str | None = Field(default=None, max_length=100)
    actual_time: str | None = Field(default=None, max_length=100)


class TrainingJobCreate(BaseModel):
    """The dataset: `dataset_id` (a registered dataset), `file_id` (an uploaded JSONL file), or
    `dataset` (a file id, or on the Vault surface a path under `ATRIUM_DATASET_ROOTS`); `model`
    a local model's registry id (or a folder inside the models directory)."""

    name: DisplayName = Field(min_length=1, max_length=200)
    model: str = Field(
        min_length=1, max_length=500, validation_alias=AliasChoices("model", "base_model")
    )
    dataset: str | Id | None = None
    file_id: Id | None = None
    dataset_id: Id | None = None
    config: TrainingConfig = Field(default_factory=TrainingConfig)
    resource_allocation: ResourceAllocation = Field(default_factory=ResourceAllocation)
    adapter_type: AdapterType = "lora"
    lora_config: LoraConfig | None = None
    experiment_id: Id | None = Field(default=None, description="A lab experiment of the caller's")

    @field_validator("dataset")
    @classmethod
    def dataset_named(cls, value: str | Id | None) -> str | None:
        if value is None:
            return None
        text = str(value).strip()
        if not text or len(text) > 1000:
            raise ValueError("dataset must name an uploaded file's id or a path")
        return text

    @model_validator(mode="after")
    def one_dataset(self) -> "TrainingJobCreate":
        given = [v for v in (self.dataset, self.file_id, self.dataset_id) if v is not None]
        if len(given) != 1:
            raise ValueError("give the dataset once: `dataset`, `file_id` or `dataset_id`")
        return self

    @property
    def dataset_label(self) -> str:
        if self.dataset_id is not None:
            return f"dataset:{self.dataset_id}"
        return str(self.file_id if self.file_id is not None else self.dataset)


class DatasetCreate(BaseModel):
    file_id: Id
    name: DisplayName | None = Field(default=None, min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=2000)


class DatasetRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: StrId
    name: str
    description: str | None
    file_id: StrId
    format: str
    row_count: int
    size_bytes: int
    created_at: datetime


class LossPoint(BaseModel):
    step: int
    loss: float


class TrainingMetrics(BaseModel):
    loss: float | None = None
    accuracy: float | None = None
    learning_rate: float | None = None
    eval_loss: float | None = None
    epochs_completed: int = 0
    total_epochs: int = 0
    tokens_processed: int = 0
    tokens_per_second: float | None = None
    estimated_time_remaining: str | None = None
    steps_completed: int = 0
    total_steps: int = 0
    loss_history: list[LossPoint] = []
    eval_loss_history: list[LossPoint] = []


class TrainingJobRead(BaseModel):
    """CONTRACTS' TrainingJobResponse (progress on the caller's scale), with the job's id and
    the registry id of the trained model."""

    id: str
    name: str
    status: TrainingStatus
    progress: float
    model: str
    dataset: str
    config: TrainingConfig
    metrics: TrainingMetrics
    resource_allocation: ResourceAllocation
    adapter_type: str
    lora_config: LoraConfig | None
    adapter_id: str | None = Field(description="The trained model in the registry, once done")
    job_id: str | None
    stage: str | None
    error: str | None
    started_at: str | None
    completed_at: str | None
    created_at: str


class TrainingJobList(BaseModel):
    jobs: list[TrainingJobRead]
    total: int


class TrainingJobDeleted(BaseModel):
    id: str
    deleted: bool = True


def metrics_of(stored: dict[str, Any] | None) -> TrainingMetrics:
    return TrainingMetrics.model_validate(stored or {})


class ExperimentCreate(BaseModel):
    name: DisplayName = Field(min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=2000)
    training_job_ids: list[Id] = Field(
        default=[], max_length=1000, description="The caller's training jobs to group"
    )


class ExperimentRead(BaseModel):
    id: str
    name: str
    description: str | None
    training_job_ids: list[str]
    created_at: str


class RunComparison(BaseModel):
    id: str
    name: str
    status: str
    model: str
    adapter_type: str
    config: dict[str, Any]
    lora_config: dict[str, Any] | None
    final: dict[str, Any]
    loss_history: list[LossPoint]
    eval_loss_history: list[LossPoint]


class ExperimentComparison(BaseModel):
    experiment: ExperimentRead
    parameters: list[str] = Field(description="Hyper-parameters that differ between the runs")
    runs: list[RunComparison]
