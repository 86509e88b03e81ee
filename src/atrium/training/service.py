"""Training jobs: creating one (base model, dataset and hyper-parameters checked up front),
reading them with their job's status, controlling and deleting them.

A training job's status, progress, error and times are its engine job's (one truth); its row
keeps what to train and the metrics the trainer reports."""

import asyncio
import contextlib
import importlib.util
import re
import shutil
from pathlib import Path
from typing import Any

from sqlalchemy import ColumnElement, func, select, true
from sqlalchemy.ext.asyncio import AsyncSession

from atrium.auth.principal import Principal
from atrium.config import Settings
from atrium.db import after_commit, utcnow
from atrium.errors import AtriumError
from atrium.files import service as files_service
from atrium.jobs import service as jobs_service
from atrium.jobs.errors import InvalidStatusTransition
from atrium.jobs.schemas import JobRead
from atrium.modelhub import service as modelhub_service
from atrium.params import MAX_ID
from atrium.shapes import iso_z
from atrium.training import datasets
from atrium.training.errors import (
    AdapterActive,
    AdapterNotFound,
    DatasetNotFound,
    ExperimentNotFound,
    InvalidDataset,
    TrainingJobNotFound,
    TrainingJobRunning,
    TrainingUnavailable,
    UnknownBaseModel,
    UnsupportedConfig,
)
from atrium.training.schemas import (
    DatasetCreate,
    LoraConfig,
    ResourceAllocation,
    TrainingConfig,
    TrainingJobCreate,
    TrainingJobRead,
    metrics_of,
)
from atrium.training.tables import LabExperiment, TrainingDataset, TrainingJob

KIND = "training"  # the job kind whose runner is training.trainer.run_training
MAX_PAGE = 1000


# --- what this machine can do ----------------------------------------------------------------


def missing_packages(adapter_type: str) -> list[str]:
    """The training extra's packages that cannot be imported here (none imported now)."""
    needed = ["torch", "transformers", *(["peft"] if adapter_type != "full" else [])]
    return [name for name in needed if importlib.util.find_spec(name) is None]


def gpu_devices() -> list[dict[str, Any]]:
    """CUDA devices through NVML (no torch import in the API process); none without a GPU."""
    try:
        import pynvml

        pynvml.nvmlInit()
    except Exception:
        return []
    try:
        found = []
        for index in range(pynvml.nvmlDeviceGetCount()):
            handle = pynvml.nvmlDeviceGetHandleByIndex(index)
            memory = pynvml.nvmlDeviceGetMemoryInfo(handle)
            name = pynvml.nvmlDeviceGetName(handle)
            found.append(
                {
                    "index": index,
                    "name": name.decode() if isinstance(name, bytes) else str(name),
                    "memory_total_mb": int(memory.total // (1024 * 1024)),
                    "memory_used_mb": int(memory.used // (1024 * 1024)),
                }
            )
        return found
    except Exception:
        return []
    finally:
        with contextlib.suppress(Exception):
            pynvml.nvmlShutdown()


def _check_runtime(data: TrainingJobCreate) -> None:
    missing = missing_packages(data.adapter_type)
    if missing:
        raise TrainingUnavailable(
            f"Training needs the optional extra atrium[training] ({', '.join(missing)} missing "
            "here); install it with: pip install 'atrium[training]'",
            missing=missing,
        )
    bits = data.lora_config.quantization_bits if data.lora_config else None
    if data.adapter_type == "qlora" and bits is None:
        bits = 4
    if bits is not None:
        if not gpu_devices():
            raise UnsupportedConfig(
                f"lora_config.quantization_bits={bits} (QLoRA) needs a CUDA GPU and this machine "
                "has none; leave quantization_bits unset to train LoRA in full precision"
            )
        if importlib.util.find_spec("bitsandbytes") is None:
            raise UnsupportedConfig(
                f"lora_config.quantization_bits={bits} needs the bitsandbytes package"
            )


# --- base model and dataset ------------------------------------------------------------------


def _base_model_path(settings: Settings, raw: str) -> Path:
    """A local model of the registry (by id), or a folder inside the models directory."""
    text = raw.strip()
    if text.startswith(("/", "~")):
        root = Path(modelhub_service.models_root(settings)).resolve()
        try:
            path = Path(text).expanduser().resolve(strict=True)
        except (OSError, RuntimeError, ValueError) as exc:
            raise UnknownBaseModel(f"Base model {raw!r}: no such folder") from exc
        if not path.is_relative_to(root):
            raise UnknownBaseModel(f"Base model {raw!r} is not inside the models directory")
    else:
        try:
            found = modelhub_service.local_model(settings, text)
        except AtriumError as exc:
            raise UnknownBaseModel(f"Base model {raw!r}: {exc.detail}") from exc
        if found is None:
            raise UnknownBaseModel(
                f"No local model {raw!r}; download it first (POST /api/v1/models/download)"
            )
        path = Path(found["path"])
    if not (path / "config.json").is_file():
        raise UnknownBaseModel(f"Base model {raw!r} has no config.json (not a transformers model)")
    return path


async def _check_file(
    session: AsyncSession, principal: Principal, state: Any, file_id: int
) -> tuple[Any, datasets.LineChecker]:
    """The caller's uploaded file (404 if not theirs) and its rows, checked."""
    file = await files_service.get_owned(session, principal, file_id)
    try:
        checker = await datasets.check_stream(state.storage.read(file.storage_key))
    except datasets.DatasetError as exc:
        raise InvalidDataset(str(exc), lines=exc.problems) from exc
    return file, checker


async def _dataset_of(
    session: AsyncSession,
    principal: Principal,
    state: Any,
    data: TrainingJobCreate,
    *,
    allow_paths: bool,
) -> dict[str, Any]:
    """The dataset's source, its rows checked (422 naming the bad lines)."""
    if data.dataset_id is not None:
        registered = await get_dataset(session, principal, data.dataset_id)
        file = await files_service.get_owned(session, principal, registered.file_id)
        return {"dataset_file_id": file.id, "dataset_key": file.storage_key,
                "dataset_rows": registered.row_count}  # fmt: skip
    raw = str(data.file_id) if data.file_id is not None else str(data.dataset)
    if raw.isdigit():
        if not 1 <= int(raw) <= MAX_ID:
            raise files_service.FileNotFound(f"File {raw} not found")
        file, checker = await _check_file(session, principal, state, int(raw))
        return {"dataset_file_id": file.id, "dataset_key": file.storage_key,
                "dataset_rows": checker.count}  # fmt: skip
    try:
        if not allow_paths:
            raise datasets.DatasetError(
                "dataset is an uploaded JSONL file's id (POST /api/v1/upload) or a dataset_id"
            )
        path = await asyncio.to_thread(
            datasets.resolve_under_roots, raw, state.settings.dataset_roots
        )
        checker = await asyncio.to_thread(datasets.check_file, path)
    except datasets.DatasetError as exc:
        raise InvalidDataset(str(exc), lines=exc.problems) from exc
    return {"dataset_path": str(path), "dataset_rows": checker.count}


async def validate_path(state: Any, raw: str) -> dict[str, Any]:
    """Vault's `POST /vault/training/validate {path}`: a dataset file's rows, or its problems."""
    try:
        path = await asyncio.to_thread(
            datasets.resolve_under_roots, raw, state.settings.dataset_roots
        )
        checker = await asyncio.to_thread(datasets.check_file, path)
    except datasets.DatasetError as exc:
        return {"valid": False, "format": None, "record_count": 0, "findings": [
            {"severity": "high", "code": "invalid_dataset", "message": str(exc),
             "details": {"lines": exc.problems}}
        ]}  # fmt: skip
    return {"valid": True, "format": "jsonl", "record_count": checker.count, "findings": []}


# --- registered datasets (`/api/v1/datasets`) -------------------------------------------------


async def create_dataset(
    session: AsyncSession, principal: Principal, state: Any, data: DatasetCreate
) -> TrainingDataset:
    """Register an uploaded JSONL file as a dataset, once its rows are checked."""
    file, checker = await _check_file(session, principal, state, data.file_id)
    row = TrainingDataset(
        user_id=principal.user_id,
        file_id=file.id,
        name=data.name or file.filename,
        description=data.description,
        format=checker.format,
        row_count=checker.count,
        size_bytes=file.size,
    )
    session.add(row)
    await session.flush()
    return row


async def get_dataset(
    session: AsyncSession, principal: Principal, dataset_id: int
) -> TrainingDataset:
    visible = (
        true()
        if principal.reaches("training", "read")
        else (TrainingDataset.user_id == principal.user_id)
    )
    row = await session.scalar(
        select(TrainingDataset).where(TrainingDataset.id == dataset_id, visible)
    )
    if row is None:
        raise DatasetNotFound()
    return row


async def list_datasets(
    session: AsyncSession, principal: Principal, *, offset: int = 0, limit: int = 100
) -> list[TrainingDataset]:
    rows = await session.scalars(
        select(TrainingDataset)
        .where(TrainingDataset.user_id == principal.user_id)
        .order_by(TrainingDataset.id.desc())
        .offset(offset)
        .limit(min(limit, MAX_PAGE))
    )
    return list(rows)


# --- create, read ----------------------------------------------------------------------------


def _visible(principal: Principal, action: str) -> ColumnElement[bool]:
    if principal.reaches("training", action):
        return true()
    return TrainingJob.user_id == principal.user_id


async def get_owned(
    session: AsyncSession, principal: Principal, training_id: int, action: str = "read"
) -> TrainingJob:
    row = await session.scalar(
        select(TrainingJob).where(TrainingJob.id == training_id, _visible(principal, action))
    )
    if row is None:
        raise TrainingJobNotFound()
    return row


async def create(
    session: AsyncSession,
    principal: Principal,
    state: Any,
    data: TrainingJobCreate,
    *,
    allow_paths: bool = False,
) -> TrainingJob:
    """Check the runtime, the base model and the dataset, store the job and queue its run."""
    _check_runtime(data)
    settings: Settings = state.settings
    model_path = await asyncio.to_thread(_base_model_path, settings, data.model)
    source = await _dataset_of(session, principal, state, data, allow_paths=allow_paths)
    if data.experiment_id is not None:
        await _check_experiment(session, principal, data.experiment_id)
    lora = data.lora_config or (LoraConfig() if data.adapter_type != "full" else None)
    row = TrainingJob(
        user_id=principal.user_id,
        name=data.name,
        base_model=data.model,
        base_model_path=str(model_path),
        dataset=data.dataset_label,
        config=data.config.model_dump(),
        resource_allocation=data.resource_allocation.model_dump(),
        adapter_type=data.adapter_type,
        lora_config=lora.model_dump() if lora else None,
        metrics={"total_epochs": data.config.epochs},
        experiment_id=data.experiment_id,
        **source,
    )
    session.add(row)
    await session.flush()
    job = await jobs_service.enqueue(
        session, kind=KIND, owner_id=principal.user_id, payload={"training_id": row.id}
    )
    row.job_id = job.id
    await session.flush()
    return row


async def _check_experiment(
    session: AsyncSession, principal: Principal, experiment_id: int
) -> None:
    owner = await session.scalar(
        select(LabExperiment.user_id).where(LabExperiment.id == experiment_id)
    )
    if owner is None or owner != principal.user_id:
        raise ExperimentNotFound()


async def list_own(
    session: AsyncSession, principal: Principal, *, offset: int = 0, limit: int = 100
) -> tuple[list[TrainingJob], int]:
    """The caller's training jobs, newest first, with their total."""
    condition = TrainingJob.user_id == principal.user_id
    total = await session.scalar(select(func.count()).select_from(TrainingJob).where(condition))
    rows = await session.scalars(
        select(TrainingJob)
        .where(condition)
        .order_by(TrainingJob.id.desc())
        .offset(offset)
        .limit(min(limit, MAX_PAGE))
    )
    return list(rows), int(total or 0)


def to_read(
    row: TrainingJob, job: JobRead | None, *, progress_scale: float = 1.0
) -> TrainingJobRead:
    status = job.status if job is not None else "failed"
    return TrainingJobRead(
        id=str(row.id),
        name=row.name,
        status=status,
        progress=round((job.progress if job else 0.0) * progress_scale, 4),
        model=row.base_model,
        dataset=row.dataset,
        config=TrainingConfig.model_validate(row.config),
        metrics=metrics_of(row.metrics),
        resource_allocation=ResourceAllocation.model_validate(row.resource_allocation),
        adapter_type=row.adapter_type,
        lora_config=LoraConfig.model_validate(row.lora_config) if row.lora_config else None,
        adapter_id=row.output_model,
        job_id=str(row.job_id) if row.job_id is not None else None,
        stage=job.stage if job else None,
        error=job.error if job else "the job record is missing",
        started_at=iso_z(job.started_at) if job else None,
        completed_at=iso_z(job.finished_at) if job else None,
        created_at=iso_z(row.created_at) or "",
    )


async def read_many(
    session: AsyncSession, rows: list[TrainingJob], *, progress_scale: float = 1.0
) -> list[TrainingJobRead]:
    jobs = await jobs_service.get_many(session, [row.job_id for row in rows if row.job_id])
    return [to_read(row, jobs.get(row.job_id or 0), progress_scale=progress_scale) for row in rows]


async def read_one(
    session: AsyncSession, row: TrainingJob, *, progress_scale: float = 1.0
) -> TrainingJobRead:
    return (await read_many(session, [row], progress_scale=progress_scale))[0]


# --- control and deletion --------------------------------------------------------------------


async def control(
    session: AsyncSession, principal: Principal, training_id: int, action: str
) -> TrainingJob:
    """pause, resume or cancel: the job engine's transitions (409 `invalid_status_transition`
    naming the allowed ones). Only a running job pauses (Vault's rule: a queued one has
    nothing to pause; cancel it instead)."""
    row = await get_owned(session, principal, training_id, "write")
    if row.job_id is None:
        raise TrainingJobNotFound()
    if action == "pause":
        job = await jobs_service.get(session, row.job_id)
        if job.status == "queued":
            raise InvalidStatusTransition("queued", "paused", ["cancel"])
    transition = {
        "pause": jobs_service.request_pause,
        "resume": jobs_service.request_resume,
        "cancel": jobs_service.request_cancel,
    }[action]
    await transition(session, row.job_id)
    return row


def work_dir(settings: Settings, training_id: int) -> Path:
    """Checkpoints and scratch space of one training job."""
    return settings.data_dir / "training" / str(training_id)


async def delete(
    session: AsyncSession, principal: Principal, settings: Settings, training_id: int
) -> None:
    """A running job is 409 (cancel it first); a queued or paused one is cancelled and goes.
    The trained model, if any, stays in the registry."""
    row = await get_owned(session, principal, training_id, "delete")
    if row.job_id is not None:
        job = (await jobs_service.get_many(session, [row.job_id])).get(row.job_id)
        if job is not None and job.status == "running":
            raise TrainingJobRunning(allowed=["cancel"], status=job.status)
        if job is not None and job.status in ("queued", "paused"):
            await jobs_service.request_cancel(session, row.job_id)
        if job is not None:
            await jobs_service.delete(session, row.job_id)
    await session.delete(row)
    await session.flush()
    directory = work_dir(settings, training_id)

    async def remove_checkpoints() -> None:
        await asyncio.to_thread(shutil.rmtree, directory, True)

    after_commit(session, remove_checkpoints)


def output_model_id(row: TrainingJob) -> str:
    """The registry id the trained model gets: `trained/<name>-<id>`."""
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", row.name).strip("-.")[:60] or "model"
    return f"trained/{slug}-{row.id}"


def touch(row: TrainingJob) -> None:
    row.updated_at = utcnow()


# --- adapters: the models training produced (Vault's Adapters tab) ----------------------------


async def _adapter_rows(
    session: AsyncSession, principal: Principal, training_id: int | None = None
) -> list[TrainingJob]:
    query = select(TrainingJob).where(
        TrainingJob.output_model.is_not(None), _visible(principal, "read")
    )
    if training_id is not None:
        query = query.where(TrainingJob.id == training_id)
    return list(await session.scalars(query.order_by(TrainingJob.id.desc())))


def _adapter_info(row: TrainingJob, model: dict[str, Any], active: str | None) -> dict[str, Any]:
    metrics = metrics_of(row.metrics)
    return {
        "id": str(row.id),
        "name": row.output_model,
        "base_model": row.base_model,
        "adapter_type": row.adapter_type,
        "status": "active" if row.output_model == active else "ready",
        "path": model["path"],
        "training_job_id": str(row.id),
        "config": {**row.config, "lora": row.lora_config},
        "metrics": {"loss": metrics.loss, "eval_loss": metrics.eval_loss,
                    "steps": metrics.steps_completed, "tokens": metrics.tokens_processed},
        "size_bytes": model["size_bytes"],
        "version": 1,
        "created_at": iso_z(row.updated_at) or "",
        "activated_at": None,
    }  # fmt: skip


async def list_adapters(
    session: AsyncSession, principal: Principal, settings: Settings, training_id: int | None = None
) -> list[dict[str, Any]]:
    """The trained models still in the registry, as Vault's AdapterInfo."""
    active = await modelhub_service.active_model_id(session, settings)
    found = []
    for row in await _adapter_rows(session, principal, training_id):
        model = await asyncio.to_thread(modelhub_service.local_model, settings, row.output_model)
        if model is not None:
            found.append(_adapter_info(row, model, active))
    return found


async def get_adapter(
    session: AsyncSession, principal: Principal, settings: Settings, adapter_id: int
) -> dict[str, Any]:
    found = await list_adapters(session, principal, settings, adapter_id)
    if not found:
        raise AdapterNotFound()
    return found[0]


async def set_adapter_active(
    state: Any, session: AsyncSession, principal: Principal, adapter_id: int, active: bool
) -> dict[str, Any]:
    """Activating makes the trained model the gateway's default model (as the registry's own
    activation does); deactivating clears the default if it is this one."""
    adapter = await get_adapter(session, principal, state.settings, adapter_id)
    if active:
        await modelhub_service.activate(state, session, principal, adapter["name"])
    else:
        await modelhub_service.deactivate(state, session, principal, adapter["name"])
    return {**adapter, "status": "active" if active else "ready"}


async def delete_adapter(
    state: Any, session: AsyncSession, principal: Principal, adapter_id: int
) -> None:
    adapter = await get_adapter(session, principal, state.settings, adapter_id)
    if adapter["status"] == "active":
        raise AdapterActive()
    await modelhub_service.delete(state, session, principal, adapter["name"])
    row = await get_owned(session, principal, adapter_id, "delete")
    row.output_model = None
    touch(row)


async def gpu_allocation(session: AsyncSession, principal: Principal) -> list[dict[str, Any]]:
    """Each GPU with the running training job on it (by the device its trainer reported);
    another user's job is shown without its id. None without a GPU."""
    gpus = await asyncio.to_thread(gpu_devices)
    if not gpus:
        return []
    running = await jobs_service.ids_with_status(session, KIND, "running")
    rows = await session.scalars(select(TrainingJob).where(TrainingJob.job_id.in_(running)))
    on_device: dict[int, TrainingJob] = {}
    for row in rows:
        device = str((row.metrics or {}).get("device") or "")
        if device.startswith("cuda"):
            on_device[int(device.partition(":")[2] or 0)] = row
    allocation = []
    for gpu in gpus:
        row = on_device.get(gpu["index"])
        visible = row is not None and (
            row.user_id == principal.user_id or principal.reaches("training", "read")
        )
        total = gpu["memory_total_mb"] or 1
        allocation.append(
            {
                "gpu_index": gpu["index"],
                "assigned_to": "training" if row is not None else None,
                "job_id": str(row.id) if visible and row is not None else None,
                "memory_used_pct": round(100.0 * gpu["memory_used_mb"] / total, 1),
            }
        )
    return allocation


async def delete_users_work(session: AsyncSession, settings: Settings, user_id: int) -> None:
    """A user deletion hook: rows go by cascade, checkpoints after the commit."""
    ids = list(await session.scalars(select(TrainingJob.id).where(TrainingJob.user_id == user_id)))
    directories = [work_dir(settings, training_id) for training_id in ids]

    async def remove() -> None:
        for directory in directories:
            await asyncio.to_thread(shutil.rmtree, directory, True)

    after_commit(session, remove)
