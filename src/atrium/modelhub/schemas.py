from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

BACKENDS = ("vllm", "ollama", "llamacpp", "transformers", "tgi", "sglang")
Backend = Literal["vllm", "ollama", "llamacpp", "transformers", "tgi", "sglang"]
ModelId = Field(min_length=1, max_length=200)


class HubModelRead(BaseModel):
    id: str
    name: str
    description: str | None = None
    downloads: int
    likes: int
    tags: list[str]
    task: str | None = None
    library_name: str | None = None
    created_at: datetime | None = None
    last_modified: datetime | None = None
    author: str | None = None
    vllm_ready: bool
    quantization: str | None = None


class LocalModelRead(BaseModel):
    id: str
    name: str
    path: str
    size_bytes: int
    formats: list[str]
    quantizations: list[str]
    dtypes: list[str]
    quantization: str | None
    task: str | None
    tags: list[str]
    architectures: list[str]
    context_window: int | None
    revision: str | None
    downloaded_at: str | None
    active: bool = False


class ModelDetail(BaseModel):
    id: str
    local: LocalModelRead | None
    hub: HubModelRead | None
    hub_error: str | None = None


class DownloadRequest(BaseModel):
    model_id: str = ModelId
    revision: str | None = Field(default=None, max_length=100, pattern=r"^[A-Za-z0-9._/-]+$")


class BatchDownloadRequest(BaseModel):
    model_ids: list[str] = Field(min_length=1, max_length=20)


class DownloadStarted(BaseModel):
    job_id: int
    model_id: str
    status: str
    size_bytes: int


class BatchDownloadStarted(BaseModel):
    downloads: list[DownloadStarted]


class ActivateRequest(BaseModel):
    model_id: str = ModelId
    backend: Backend | None = None


class ActiveModel(BaseModel):
    model_id: str | None
    local: LocalModelRead | None


class ModelDeleted(BaseModel):
    model_id: str
    deleted: bool


class Counted(BaseModel):
    name: str
    count: int
    models: list[str]


class ModelSettingsRead(BaseModel):
    models_dir: str
    hub_endpoint: str
    default_backend: Backend
    allow_pickle: bool


class ModelSettingsUpdate(BaseModel):
    default_backend: Backend | None = None
    allow_pickle: bool | None = None
