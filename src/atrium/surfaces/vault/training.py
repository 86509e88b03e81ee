"""Vault's training page (seed 000): `/vault/training/jobs` in CONTRACTS' TrainingJobResponse,
progress in percent as its backend reported it; a dataset may be a path under
`ATRIUM_DATASET_ROOTS` (its frontend sends one and checks it with `/vault/training/validate`)."""

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, Field

from atrium.db import SessionDep
from atrium.modelhub.auth import ModelsAdmin
from atrium.params import IdPath
from atrium.training import service as training_service
from atrium.training.auth import TrainingDelete, TrainingRead, TrainingWrite
from atrium.training.schemas import TrainingJobCreate, TrainingJobList, TrainingJobRead

router = APIRouter(prefix="/vault/training", tags=["vault"])
PERCENT = 100.0
NOT_FOUND = {404: {"description": "No such training job, or not the caller's"}}
REFUSED = {409: {"description": "`invalid_status_transition`, with the `allowed` actions"}}


class ValidateRequest(BaseModel):
    path: str = Field(min_length=1, max_length=1000)


class ValidationFinding(BaseModel):
    severity: str
    code: str
    message: str
    details: dict | None = None


class ValidationResult(BaseModel):
    valid: bool
    format: str | None
    record_count: int
    findings: list[ValidationFinding]


@router.get("/jobs", response_model=TrainingJobList)
async def list_vault_training_jobs(principal: TrainingRead, session: SessionDep) -> TrainingJobList:
    rows, total = await training_service.list_own(session, principal, limit=1000)
    jobs = await training_service.read_many(session, rows, progress_scale=PERCENT)
    return TrainingJobList(jobs=jobs, total=total)


@router.post(
    "/jobs",
    response_model=TrainingJobRead,
    status_code=201,
    responses={404: {"description": "The dataset or experiment is not the caller's"},
               422: {"description": "Unknown base model, bad dataset lines or config"},
               503: {"description": "The training extra (atrium[training]) is not installed"}},
)  # fmt: skip
async def create_vault_training_job(
    request: Request, body: TrainingJobCreate, principal: TrainingWrite, session: SessionDep
) -> TrainingJobRead:
    row = await training_service.create(
        session, principal, request.app.state, body, allow_paths=True
    )
    return await training_service.read_one(session, row, progress_scale=PERCENT)


@router.get("/jobs/{training_id}", response_model=TrainingJobRead, responses=NOT_FOUND)
async def get_vault_training_job(
    training_id: IdPath, principal: TrainingRead, session: SessionDep
) -> TrainingJobRead:
    row = await training_service.get_owned(session, principal, training_id)
    return await training_service.read_one(session, row, progress_scale=PERCENT)


@router.delete(
    "/jobs/{training_id}",
    status_code=204,
    response_class=Response,
    responses={**NOT_FOUND, 409: {"description": "The job is running; cancel it first"}},
)
async def delete_vault_training_job(
    request: Request, training_id: IdPath, principal: TrainingDelete, session: SessionDep
) -> Response:
    await training_service.delete(session, principal, request.app.state.settings, training_id)
    return Response(status_code=204)


async def _control(session, principal, training_id: int, action: str) -> TrainingJobRead:
    row = await training_service.control(session, principal, training_id, action)
    return await training_service.read_one(session, row, progress_scale=PERCENT)


@router.post(
    "/jobs/{training_id}/pause", response_model=TrainingJobRead, responses={**NOT_FOUND, **REFUSED}
)
async def pause_vault_training_job(
    training_id: IdPath, principal: TrainingWrite, session: SessionDep
) -> TrainingJobRead:
    return await _control(session, principal, training_id, "pause")


@router.post(
    "/jobs/{training_id}/resume", response_model=TrainingJobRead, responses={**NOT_FOUND, **REFUSED}
)
async def resume_vault_training_job(
    training_id: IdPath, principal: TrainingWrite, session: SessionDep
) -> TrainingJobRead:
    return await _control(session, principal, training_id, "resume")


@router.post(
    "/jobs/{training_id}/cancel", response_model=TrainingJobRead, responses={**NOT_FOUND, **REFUSED}
)
async def cancel_vault_training_job(
    training_id: IdPath, principal: TrainingWrite, session: SessionDep
) -> TrainingJobRead:
    return await _control(session, principal, training_id, "cancel")


@router.post("/validate", response_model=ValidationResult)
async def validate_vault_dataset(
    request: Request, body: ValidateRequest, principal: TrainingWrite
) -> ValidationResult:
    return ValidationResult.model_validate(
        await training_service.validate_path(request.app.state, body.path)
    )


# --- adapters and GPUs (the Vault frontend's Adapters tab and allocation panel) --------------


class AdapterInfo(BaseModel):
    id: str
    name: str
    base_model: str
    adapter_type: str
    status: str
    path: str
    training_job_id: str | None
    config: dict | None
    metrics: dict | None
    size_bytes: int
    version: int
    created_at: str
    activated_at: str | None


class AdapterList(BaseModel):
    adapters: list[AdapterInfo]
    total: int


class GpuAllocation(BaseModel):
    gpu_index: int
    assigned_to: str | None
    job_id: str | None
    memory_used_pct: float


ADAPTER_NOT_FOUND = {404: {"description": "No such adapter, or not the caller's"}}


@router.get("/adapters", response_model=AdapterList)
async def list_vault_adapters(
    request: Request, principal: TrainingRead, session: SessionDep
) -> AdapterList:
    found = await training_service.list_adapters(session, principal, request.app.state.settings)
    return AdapterList(adapters=[AdapterInfo(**entry) for entry in found], total=len(found))


@router.get("/adapters/{adapter_id}", response_model=AdapterInfo, responses=ADAPTER_NOT_FOUND)
async def get_vault_adapter(
    request: Request, adapter_id: IdPath, principal: TrainingRead, session: SessionDep
) -> AdapterInfo:
    settings = request.app.state.settings
    return AdapterInfo(
        **await training_service.get_adapter(session, principal, settings, adapter_id)
    )


@router.delete(
    "/adapters/{adapter_id}",
    status_code=204,
    response_class=Response,
    responses={**ADAPTER_NOT_FOUND, 409: {"description": "The adapter is active"}},
)
async def delete_vault_adapter(
    request: Request, adapter_id: IdPath, principal: TrainingDelete, session: SessionDep
) -> Response:
    await training_service.delete_adapter(request.app.state, session, principal, adapter_id)
    return Response(status_code=204)


@router.post(
    "/adapters/{adapter_id}/activate", response_model=AdapterInfo, responses=ADAPTER_NOT_FOUND
)
async def activate_vault_adapter(
    request: Request, adapter_id: IdPath, principal: ModelsAdmin, session: SessionDep
) -> AdapterInfo:
    state = request.app.state
    return AdapterInfo(
        **await training_service.set_adapter_active(state, session, principal, adapter_id, True)
    )


@router.post(
    "/adapters/{adapter_id}/deactivate", response_model=AdapterInfo, responses=ADAPTER_NOT_FOUND
)
async def deactivate_vault_adapter(
    request: Request, adapter_id: IdPath, principal: ModelsAdmin, session: SessionDep
) -> AdapterInfo:
    state = request.app.state
    return AdapterInfo(
        **await training_service.set_adapter_active(state, session, principal, adapter_id, False)
    )


@router.get("/gpu-allocation", response_model=list[GpuAllocation])
async def vault_gpu_allocation(principal: TrainingRead, session: SessionDep) -> list[GpuAllocation]:
    found = await training_service.gpu_allocation(session, principal)
    return [GpuAllocation(**entry) for entry in found]
