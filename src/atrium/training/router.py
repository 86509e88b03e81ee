"""`/api/v1/training/jobs`: fine-tuning jobs (progress 0..1, as on `/api/v1/jobs`), and
`/api/v1/datasets`: uploaded JSONL files registered as checked training datasets, and seed
003's lab, `/api/v1/lab/experiments`: runs grouped and compared."""

from fastapi import APIRouter, FastAPI, Request, Response

from atrium.db import SessionDep
from atrium.params import IdPath, Limit, Offset
from atrium.training import lab, service
from atrium.training import trainer as _trainer  # noqa: F401  (registers the runner)
from atrium.training.auth import TrainingDelete, TrainingRead, TrainingWrite
from atrium.training.schemas import (
    DatasetCreate,
    DatasetRead,
    ExperimentComparison,
    ExperimentCreate,
    ExperimentRead,
    TrainingJobCreate,
    TrainingJobDeleted,
    TrainingJobList,
    TrainingJobRead,
)

router = APIRouter(prefix="/api/v1/training/jobs", tags=["training"])
NOT_FOUND = {404: {"description": "No such training job, or not the caller's"}}
REFUSED = {409: {"description": "`invalid_status_transition`, with the `allowed` actions"}}
CREATE_ERRORS = {
    404: {"description": "The dataset (file) or experiment is not the caller's"},
    422: {"description": "Unknown base model, bad dataset lines, or an unsupported config"},
    503: {"description": "The training extra (atrium[training]) is not installed"},
}


@router.get("", response_model=TrainingJobList)
async def list_training_jobs(
    principal: TrainingRead, session: SessionDep, offset: Offset = 0, limit: Limit = 100
) -> TrainingJobList:
    rows, total = await service.list_own(session, principal, offset=offset, limit=limit)
    return TrainingJobList(jobs=await service.read_many(session, rows), total=total)


@router.post("", response_model=TrainingJobRead, status_code=202, responses=CREATE_ERRORS)
async def create_training_job(
    request: Request,
    response: Response,
    body: TrainingJobCreate,
    principal: TrainingWrite,
    session: SessionDep,
) -> TrainingJobRead:
    row = await service.create(session, principal, request.app.state, body)
    response.headers["Location"] = f"/api/v1/training/jobs/{row.id}"
    return await service.read_one(session, row)


@router.get("/{training_id}", response_model=TrainingJobRead, responses=NOT_FOUND)
async def get_training_job(
    training_id: IdPath, principal: TrainingRead, session: SessionDep
) -> TrainingJobRead:
    row = await service.get_owned(session, principal, training_id)
    return await service.read_one(session, row)


@router.delete(
    "/{training_id}",
    response_model=TrainingJobDeleted,
    responses={**NOT_FOUND, 409: {"description": "The job is running; cancel it first"}},
)
async def delete_training_job(
    request: Request, training_id: IdPath, principal: TrainingDelete, session: SessionDep
) -> TrainingJobDeleted:
    await service.delete(session, principal, request.app.state.settings, training_id)
    return TrainingJobDeleted(id=str(training_id))


async def _control(session, principal, training_id: int, action: str) -> TrainingJobRead:
    row = await service.control(session, principal, training_id, action)
    return await service.read_one(session, row)


@router.post(
    "/{training_id}/pause", response_model=TrainingJobRead, responses={**NOT_FOUND, **REFUSED}
)
async def pause_training_job(
    training_id: IdPath, principal: TrainingWrite, session: SessionDep
) -> TrainingJobRead:
    return await _control(session, principal, training_id, "pause")


@router.post(
    "/{training_id}/resume", response_model=TrainingJobRead, responses={**NOT_FOUND, **REFUSED}
)
async def resume_training_job(
    training_id: IdPath, principal: TrainingWrite, session: SessionDep
) -> TrainingJobRead:
    return await _control(session, principal, training_id, "resume")


@router.post(
    "/{training_id}/cancel", response_model=TrainingJobRead, responses={**NOT_FOUND, **REFUSED}
)
async def cancel_training_job(
    training_id: IdPath, principal: TrainingWrite, session: SessionDep
) -> TrainingJobRead:
    return await _control(session, principal, training_id, "cancel")


datasets_router = APIRouter(prefix="/api/v1/datasets", tags=["training"])


@datasets_router.get("", response_model=list[DatasetRead])
async def list_datasets(
    principal: TrainingRead, session: SessionDep, offset: Offset = 0, limit: Limit = 100
) -> list[DatasetRead]:
    rows = await service.list_datasets(session, principal, offset=offset, limit=limit)
    return [DatasetRead.model_validate(row) for row in rows]


@datasets_router.post(
    "",
    response_model=DatasetRead,
    status_code=201,
    responses={
        404: {"description": "The file is not the caller's"},
        422: {"description": "Not a JSONL training dataset: the bad lines are named"},
    },
)
async def create_dataset(
    request: Request, body: DatasetCreate, principal: TrainingWrite, session: SessionDep
) -> DatasetRead:
    row = await service.create_dataset(session, principal, request.app.state, body)
    return DatasetRead.model_validate(row)


lab_router = APIRouter(prefix="/api/v1/lab/experiments", tags=["lab"])
EXPERIMENT_NOT_FOUND = {404: {"description": "No such experiment, or not the caller's"}}


@lab_router.get("", response_model=list[ExperimentRead])
async def list_experiments(
    principal: TrainingRead, session: SessionDep, offset: Offset = 0, limit: Limit = 100
) -> list[ExperimentRead]:
    return await lab.list_own(session, principal, offset=offset, limit=limit)


@lab_router.post(
    "",
    response_model=ExperimentRead,
    status_code=201,
    responses={404: {"description": "A named training job is not the caller's"}},
)
async def create_experiment(
    body: ExperimentCreate, principal: TrainingWrite, session: SessionDep
) -> ExperimentRead:
    return await lab.create(session, principal, body)


@lab_router.get(
    "/{experiment_id}/compare", response_model=ExperimentComparison, responses=EXPERIMENT_NOT_FOUND
)
async def compare_experiment(
    experiment_id: IdPath, principal: TrainingRead, session: SessionDep
) -> ExperimentComparison:
    return await lab.compare(session, principal, experiment_id)


routers = [router, datasets_router, lab_router]


def setup(app: FastAPI) -> None:
    state = app.state
    hooks = getattr(state, "user_deletion_hooks", None)
    if hooks is None:
        hooks = state.user_deletion_hooks = []

    async def delete_user_checkpoints(session, user_id: int) -> None:
        await service.delete_users_work(session, state.settings, user_id)

    hooks.append(delete_user_checkpoints)
