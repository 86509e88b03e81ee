"""The registry's logic: the hub for what can be pulled, the models directory for what is here,
jobs for pulling, the admin settings' `default_model` for what is active."""

import asyncio
import json
from collections import defaultdict
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from atrium.auth.principal import Principal
from atrium.config import Settings
from atrium.jobs import service as jobs_service
from atrium.modelhub import download, hub, local, upload
from atrium.modelhub.errors import ModelNotFound
from atrium.modelhub.schemas import (
    ActiveModel,
    Counted,
    DownloadStarted,
    LocalModelRead,
    ModelDetail,
    ModelSettingsRead,
    ModelSettingsUpdate,
)
from atrium.settings_store import service as settings_service
from atrium.settings_store.schemas import AdminSettingsUpdate

SETTINGS_FILE = ".settings.json"


async def search(settings: Settings, query: str | None, limit: int) -> list[dict[str, Any]]:
    return await hub.search(settings, query, limit)


async def popular(settings: Settings, limit: int) -> list[dict[str, Any]]:
    return await hub.search(settings, None, limit, sort="downloads")


async def _active_id(session: AsyncSession, settings: Settings) -> str | None:
    return await settings_service.default_model(session, settings)


async def list_local(session: AsyncSession, settings: Settings) -> list[LocalModelRead]:
    active = await _active_id(session, settings)
    found = await asyncio.to_thread(local.list_local, settings)
    return [LocalModelRead(**model, active=model["id"] == active) for model in found]


async def get_local(session: AsyncSession, settings: Settings, model_id: str) -> LocalModelRead:
    found = await asyncio.to_thread(local.find, settings, hub.check_id(model_id))
    if found is None:
        raise ModelNotFound("No such local model")
    return LocalModelRead(**found, active=found["id"] == await _active_id(session, settings))


async def detail(session: AsyncSession, settings: Settings, model_id: str) -> ModelDetail:
    """The local copy when there is one, else the hub's card (404 when neither knows it)."""
    hub.check_id(model_id)
    try:
        here = await get_local(session, settings, model_id)
    except ModelNotFound:
        here = None
    if here is not None:
        return ModelDetail(id=model_id, local=here, hub=None)
    found = await hub.model(settings, model_id)
    return ModelDetail(id=model_id, local=None, hub=found.info)


async def start_download(
    session: AsyncSession, settings: Settings, principal: Principal, model_id: str,
    revision: str | None = None,
) -> DownloadStarted:  # fmt: skip
    """Check the model exists and fits on disk, then queue its download job."""
    found = await hub.model(settings, hub.check_id(model_id), revision)
    size = sum(file.size or 0 for file in found.files)
    download.check_space(settings, size)
    job = await jobs_service.enqueue(
        session,
        kind=download.KIND,
        owner_id=principal.user_id,
        payload={"model_id": found.id, "revision": found.sha or revision},
    )
    return DownloadStarted(job_id=job.id, model_id=found.id, status=job.status, size_bytes=size)


async def activate(
    state: Any, session: AsyncSession, principal: Principal, model_id: str
) -> ActiveModel:
    """A local model becomes the gateway's default model."""
    model = await get_local(session, state.settings, model_id)
    await settings_service.update_live(
        state, session, principal, AdminSettingsUpdate(default_model=model.id)
    )
    return ActiveModel(model_id=model.id, local=model.model_copy(update={"active": True}))


async def active(session: AsyncSession, settings: Settings) -> ActiveModel:
    model_id = await _active_id(session, settings)
    here = None
    if model_id and hub.MODEL_ID.match(model_id):
        found = await asyncio.to_thread(local.find, settings, model_id)
        here = LocalModelRead(**found, active=True) if found else None
    return ActiveModel(model_id=model_id, local=here)


async def delete(state: Any, session: AsyncSession, principal: Principal, model_id: str) -> None:
    """Remove a local model; when it was the default, the gateway has no default any more."""
    settings = state.settings
    if not await asyncio.to_thread(local.remove, settings, hub.check_id(model_id)):
        raise ModelNotFound("No such local model")
    if await _active_id(session, settings) == model_id:
        await settings_service.update_live(
            state, session, principal, AdminSettingsUpdate(default_model=None)
        )


def _counted(groups: dict[str, list[str]]) -> list[Counted]:
    return [
        Counted(name=name, count=len(models), models=sorted(models))
        for name, models in sorted(groups.items())
    ]


async def quantizations(settings: Settings) -> list[Counted]:
    """Quantization types and dtypes found in the local models' files."""
    groups: dict[str, list[str]] = defaultdict(list)
    for model in await asyncio.to_thread(local.list_local, settings):
        for name in {*model["quantizations"], *model["dtypes"]}:
            groups[name].append(model["id"])
    return _counted(groups)


async def categories(settings: Settings) -> list[Counted]:
    """Tasks (pipeline tags) of the local models, else their architectures' families."""
    groups: dict[str, list[str]] = defaultdict(list)
    for model in await asyncio.to_thread(local.list_local, settings):
        names = [model["task"]] if model["task"] else model["architectures"] or ["unknown"]
        for name in names:
            groups[name].append(model["id"])
    return _counted(groups)


def _settings_path(settings: Settings):
    return local.models_dir(settings) / SETTINGS_FILE


def read_settings(settings: Settings) -> ModelSettingsRead:
    try:
        stored = json.loads(_settings_path(settings).read_text())
    except (OSError, ValueError):
        stored = {}
    return ModelSettingsRead(
        models_dir=str(local.models_dir(settings)),
        hub_endpoint=hub.endpoint(settings),
        default_backend=stored.get("default_backend", "vllm"),
        allow_pickle=bool(stored.get("allow_pickle", False)),
    )


def update_settings(settings: Settings, changes: ModelSettingsUpdate) -> ModelSettingsRead:
    current = read_settings(settings)
    merged = {
        "default_backend": current.default_backend,
        "allow_pickle": current.allow_pickle,
        **changes.model_dump(exclude_none=True),
    }
    path = _settings_path(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(merged))
    temporary.replace(path)
    return read_settings(settings)


async def upload_model(
    session: AsyncSession, settings: Settings, model_id: str, filename: str, handle
) -> LocalModelRead:
    """Validate an uploaded model file or archive and add it to the local models."""
    hub.check_id(model_id)
    allow_pickle = read_settings(settings).allow_pickle
    await asyncio.to_thread(upload.install, settings, model_id, filename, handle, allow_pickle)
    return await get_local(session, settings, model_id)


# --- for other domains (training): local models by id, and installing a produced one ---------


def local_model(settings: Settings, model_id: str) -> dict[str, Any] | None:
    """A local model's description (`path` included), or None; a malformed id is 422."""
    return local.find(settings, hub.check_id(model_id))


def models_root(settings: Settings):
    return local.models_dir(settings)


def install_model(
    settings: Settings, model_id: str, folder, meta: dict[str, Any]
) -> dict[str, Any]:
    """Move a finished model folder into the registry whole (one rename), with the marker
    that makes it listed even without a `config.json` (a LoRA adapter has none)."""
    target = local.path_of(settings, hub.check_id(model_id))
    (folder / local.MARKER).write_text(json.dumps(meta))
    if target.exists():
        raise FileExistsError(f"A local model {model_id!r} exists already")
    target.parent.mkdir(parents=True, exist_ok=True)
    folder.replace(target)
    return local.describe(model_id, target)


async def active_model_id(session: AsyncSession, settings: Settings) -> str | None:
    return await _active_id(session, settings)


async def deactivate(
    state: Any, session: AsyncSession, principal: Principal, model_id: str
) -> bool:
    """The gateway has no default model any more if it was `model_id`; whether it was."""
    if await _active_id(session, state.settings) != model_id:
        return False
    await settings_service.update_live(
        state, session, principal, AdminSettingsUpdate(default_model=None)
    )
    return True
