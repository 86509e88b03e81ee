"""`/api/v1/models`: seed 002's model management and the Ops Center frontend's per-backend
delete and activate. Fixed paths first; `{model_id:path}` (hub ids contain `/`) last."""

from fastapi import APIRouter, File, Form, Query, Request, UploadFile
from starlette.convertors import Convertor, register_url_convertor

from atrium.db import SessionDep
from atrium.modelhub import download as _download  # noqa: F401  (registers the runner)
from atrium.modelhub import service
from atrium.modelhub.auth import ModelsAdmin, ModelsRead, ModelsWrite
from atrium.modelhub.schemas import (
    BACKENDS,
    ActivateRequest,
    ActiveModel,
    BatchDownloadRequest,
    BatchDownloadStarted,
    Counted,
    DownloadRequest,
    DownloadStarted,
    HubModelRead,
    LocalModelRead,
    ModelDeleted,
    ModelDetail,
    ModelSettingsRead,
    ModelSettingsUpdate,
)


class BackendConvertor(Convertor[str]):
    regex = "|".join(BACKENDS)

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("model_backend", BackendConvertor())

router = APIRouter(prefix="/api/v1/models", tags=["models"])
HUB_DOWN = {503: {"description": "The model hub cannot be reached (the cause in `detail`)"}}
NOT_FOUND = {404: {"description": "No such model"}}


@router.get("/search", response_model=list[HubModelRead], responses=HUB_DOWN)
async def search_models(
    request: Request,
    principal: ModelsRead,
    q: str | None = Query(default=None, max_length=200),
    limit: int = Query(default=20, ge=1, le=100),
) -> list[dict]:
    return await service.search(request.app.state.settings, q, limit)


@router.get("/popular", response_model=list[HubModelRead], responses=HUB_DOWN)
async def popular_models(
    request: Request, principal: ModelsRead, limit: int = Query(default=20, ge=1, le=100)
) -> list[dict]:
    return await service.popular(request.app.state.settings, limit)


@router.get("/local", response_model=list[LocalModelRead])
async def local_models(
    request: Request, principal: ModelsRead, session: SessionDep
) -> list[LocalModelRead]:
    return await service.list_local(session, request.app.state.settings)


@router.get("/active", response_model=ActiveModel)
async def active_model(request: Request, principal: ModelsRead, session: SessionDep) -> ActiveModel:
    return await service.active(session, request.app.state.settings)


@router.post("/download", response_model=DownloadStarted, status_code=202, responses=HUB_DOWN)
async def download_model(
    request: Request, body: DownloadRequest, principal: ModelsWrite, session: SessionDep
) -> DownloadStarted:
    return await service.start_download(
        session, request.app.state.settings, principal, body.model_id, body.revision
    )


@router.post(
    "/batch-download", response_model=BatchDownloadStarted, status_code=202, responses=HUB_DOWN
)
async def batch_download(
    request: Request, body: BatchDownloadRequest, principal: ModelsWrite, session: SessionDep
) -> BatchDownloadStarted:
    settings = request.app.state.settings
    started = [
        await service.start_download(session, settings, principal, model_id)
        for model_id in body.model_ids
    ]
    return BatchDownloadStarted(downloads=started)


@router.post(
    "/upload",
    response_model=LocalModelRead,
    status_code=201,
    responses={409: {"description": "The model exists"}, 422: {"description": "Not a model"}},
)
async def upload_model(
    request: Request,
    principal: ModelsWrite,
    session: SessionDep,
    file: UploadFile = File(...),
    model_id: str = Form(min_length=1, max_length=200),
) -> LocalModelRead:
    return await service.upload_model(
        session, request.app.state.settings, model_id, file.filename or "", file.file
    )


@router.post("/activate", response_model=ActiveModel, responses=NOT_FOUND)
async def activate_model(
    request: Request, body: ActivateRequest, principal: ModelsAdmin, session: SessionDep
) -> ActiveModel:
    return await service.activate(request.app.state, session, principal, body.model_id)


@router.get("/settings", response_model=ModelSettingsRead)
async def model_settings(request: Request, principal: ModelsRead) -> ModelSettingsRead:
    return service.read_settings(request.app.state.settings)


@router.put("/settings", response_model=ModelSettingsRead)
async def update_model_settings(
    request: Request, body: ModelSettingsUpdate, principal: ModelsAdmin
) -> ModelSettingsRead:
    return service.update_settings(request.app.state.settings, body)


@router.get("/quantizations", response_model=list[Counted])
async def quantizations(request: Request, principal: ModelsRead) -> list[Counted]:
    return await service.quantizations(request.app.state.settings)


@router.get("/categories", response_model=list[Counted])
async def categories(request: Request, principal: ModelsRead) -> list[Counted]:
    return await service.categories(request.app.state.settings)


@router.post(
    "/{backend:model_backend}/{model_id:path}/activate",
    response_model=ActiveModel,
    responses={
        **NOT_FOUND,
        405: {
            "description": "`backend` is not one of the known backend names, so the path "
            "names no activate route"
        },
    },
)
async def activate_on_backend(
    request: Request, backend: str, model_id: str, principal: ModelsAdmin, session: SessionDep
) -> ActiveModel:
    return await service.activate(request.app.state, session, principal, model_id)


@router.delete(
    "/{backend:model_backend}/{model_id:path}", response_model=ModelDeleted, responses=NOT_FOUND
)
async def delete_on_backend(
    request: Request, backend: str, model_id: str, principal: ModelsAdmin, session: SessionDep
) -> ModelDeleted:
    await service.delete(request.app.state, session, principal, model_id)
    return ModelDeleted(model_id=model_id, deleted=True)


@router.get("/{model_id:path}", response_model=ModelDetail, responses={**NOT_FOUND, **HUB_DOWN})
async def get_model(
    request: Request, model_id: str, principal: ModelsRead, session: SessionDep
) -> ModelDetail:
    return await service.detail(session, request.app.state.settings, model_id)


@router.delete("/{model_id:path}", response_model=ModelDeleted, responses=NOT_FOUND)
async def delete_model(
    request: Request, model_id: str, principal: ModelsAdmin, session: SessionDep
) -> ModelDeleted:
    await service.delete(request.app.state, session, principal, model_id)
    return ModelDeleted(model_id=model_id, deleted=True)
