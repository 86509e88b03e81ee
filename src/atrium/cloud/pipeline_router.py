"""Pipelines over HTTP: `/api/v1/cloud/pipelines` (create, list, read, change, delete), a run
on demand (`POST /{id}/run`, 202), each run's status per step, and its report as JSON, HTML or
PDF."""

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Response

from atrium.cloud import pipelines
from atrium.cloud import report as cloud_report
from atrium.cloud.auth import CloudDelete, CloudExecute, CloudRead, CloudWrite
from atrium.cloud.errors import ReportNotReady
from atrium.cloud.schemas import (
    PipelineCreate,
    PipelineDeleted,
    PipelineRead,
    PipelineRunRead,
    PipelineUpdate,
)
from atrium.cloud.tables import Pipeline, PipelineRun
from atrium.db import SessionDep
from atrium.params import IdPath

PREFIX = "/api/v1/cloud/pipelines"
router = APIRouter(prefix=PREFIX, tags=["cloud"])
NOT_FOUND = {404: {"description": "Not found, or not the caller's"}}
CONFLICT = {409: {"description": "`pipeline_running` or `discovery_running`"}}


def run_read(run: PipelineRun) -> PipelineRunRead:
    return PipelineRunRead.model_validate(
        {
            "id": run.id,
            "pipeline_id": run.pipeline_id,
            "account_id": run.account_id,
            "trigger": run.trigger,
            "status": run.status,
            "steps": run.steps,
            "error": run.error,
            "report_available": run.report is not None,
            "created_at": run.created_at,
            "finished_at": run.finished_at,
        }
    )


def pipeline_read(pipeline: Pipeline, last_run: PipelineRun | None) -> PipelineRead:
    every, cron = pipeline.schedule_every_seconds, pipeline.schedule_cron
    return PipelineRead(
        id=pipeline.id,
        user_id=pipeline.user_id,
        account_id=pipeline.account_id,
        name=pipeline.name,
        steps=pipeline.steps,
        schedule={"every_seconds": every, "cron": cron} if every or cron else None,
        next_run_at=pipeline.next_run_at,
        enabled=pipeline.enabled,
        created_at=pipeline.created_at,
        updated_at=pipeline.updated_at,
        last_run=run_read(last_run) if last_run is not None else None,
    )


@router.get("", response_model=list[PipelineRead])
async def list_pipelines(principal: CloudRead, session: SessionDep) -> list[PipelineRead]:
    found = await pipelines.list_visible(session, principal)
    last = await pipelines.last_runs(session, [p.id for p in found])
    return [pipeline_read(p, last.get(p.id)) for p in found]


@router.post("", response_model=PipelineRead, status_code=201, responses=NOT_FOUND)
async def create_pipeline(
    body: PipelineCreate, principal: CloudExecute, session: SessionDep
) -> PipelineRead:
    data = body.model_dump()
    pipeline = await pipelines.create(session, principal, data)
    return pipeline_read(pipeline, None)


@router.get("/{pipeline_id}", response_model=PipelineRead, responses=NOT_FOUND)
async def read_pipeline(
    pipeline_id: IdPath, principal: CloudRead, session: SessionDep
) -> PipelineRead:
    pipeline = await pipelines.get_visible(session, principal, pipeline_id)
    last = await pipelines.last_runs(session, [pipeline.id])
    return pipeline_read(pipeline, last.get(pipeline.id))


@router.patch("/{pipeline_id}", response_model=PipelineRead, responses=NOT_FOUND)
async def update_pipeline(
    pipeline_id: IdPath, body: PipelineUpdate, principal: CloudWrite, session: SessionDep
) -> PipelineRead:
    changes = body.model_dump(exclude_unset=True)
    pipeline = await pipelines.update_pipeline(session, principal, pipeline_id, changes)
    last = await pipelines.last_runs(session, [pipeline.id])
    return pipeline_read(pipeline, last.get(pipeline.id))


@router.delete(
    "/{pipeline_id}", response_model=PipelineDeleted, responses={**NOT_FOUND, **CONFLICT}
)
async def delete_pipeline(
    pipeline_id: IdPath, principal: CloudDelete, session: SessionDep
) -> PipelineDeleted:
    await pipelines.delete_pipeline(session, principal, pipeline_id)
    return PipelineDeleted(id=str(pipeline_id))


@router.post(
    "/{pipeline_id}/run",
    response_model=PipelineRunRead,
    status_code=202,
    responses={**NOT_FOUND, **CONFLICT, 400: {"description": "The account is not connected"}},
)
async def run_pipeline(
    pipeline_id: IdPath, response: Response, principal: CloudExecute, session: SessionDep
) -> PipelineRunRead:
    run = await pipelines.run_now(session, principal, pipeline_id)
    response.headers["Location"] = f"{PREFIX}/{pipeline_id}/runs/{run.id}"
    return run_read(run)


@router.get("/{pipeline_id}/runs", response_model=list[PipelineRunRead], responses=NOT_FOUND)
async def list_pipeline_runs(
    pipeline_id: IdPath,
    principal: CloudRead,
    session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> list[PipelineRunRead]:
    runs = await pipelines.list_runs(session, principal, pipeline_id, limit)
    return [run_read(run) for run in runs]


@router.get("/{pipeline_id}/runs/{run_id}", response_model=PipelineRunRead, responses=NOT_FOUND)
async def read_pipeline_run(
    pipeline_id: IdPath, run_id: IdPath, principal: CloudRead, session: SessionDep
) -> PipelineRunRead:
    return run_read(await pipelines.get_run(session, principal, pipeline_id, run_id))


@router.get(
    "/{pipeline_id}/runs/{run_id}/report",
    responses={
        **NOT_FOUND,
        409: {"description": "`report_not_ready`: the run has not produced its report"},
        200: {
            "content": {media: {} for media in cloud_report.MEDIA_TYPES.values()},
            "description": "The report in the format asked for",
        },
    },
    response_class=Response,
)
async def read_pipeline_report(
    pipeline_id: IdPath,
    run_id: IdPath,
    principal: CloudRead,
    session: SessionDep,
    report_format: Annotated[Literal["json", "html", "pdf"], Query(alias="format")] = "json",
) -> Response:
    run = await pipelines.get_run(session, principal, pipeline_id, run_id)
    if run.report is None:
        raise ReportNotReady()
    body = cloud_report.render(run.report, report_format)
    headers = {}
    if report_format == "pdf":
        headers["Content-Disposition"] = (
            f'attachment; filename="cloud-report-{pipeline_id}-{run_id}.pdf"'
        )
    return Response(body, media_type=cloud_report.MEDIA_TYPES[report_format], headers=headers)
