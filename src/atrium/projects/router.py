"""Seed 004's projects: `/api/v1/projects` (POST, GET) and `/{id}` (GET, PATCH, DELETE); its
admin metrics, the workspace's totals, at `/api/v1/admin/metrics`."""

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Query, Response

from atrium.db import ReadDep, SessionDep, utcnow
from atrium.projects import service as projects_service
from atrium.projects.auth import ProjectsDelete, ProjectsRead, ProjectsWrite, SystemAdmin
from atrium.projects.schemas import (
    AdminMetrics,
    ProjectCreate,
    ProjectDeleted,
    ProjectRead,
    ProjectUpdate,
)
from atrium.reader import in_transaction
from atrium.shapes import json_response

router = APIRouter(prefix="/api/v1/projects", tags=["projects"])
admin_router = APIRouter(prefix="/api/v1/admin", tags=["admin"])
routers = [router, admin_router]

NOT_FOUND = {404: {"description": "No such project, or not the caller's"}}


@router.post("", response_model=ProjectRead, status_code=201)
async def create_project(
    body: ProjectCreate, principal: ProjectsWrite, session: SessionDep
) -> ProjectRead:
    project = await projects_service.create(session, principal, body)
    return ProjectRead.model_validate(project)


@router.get(
    "",
    response_model=list[ProjectRead],
    description="The caller's projects, oldest first, each with its conversations (newest "
    "first). Without `limit`, all of them up to 1,000; the next page's cursor comes in "
    "`X-Next-Cursor`.",
)
async def list_projects(
    principal: ProjectsRead,
    connection: ReadDep,
    limit: Annotated[int | None, Query(ge=1, le=1000)] = None,
    cursor: Annotated[int | None, Query(ge=0, description="From X-Next-Cursor")] = None,
) -> Response:
    projects, next_after = await projects_service.list_own(
        connection, principal, limit=limit, after_id=cursor
    )
    headers = {"X-Next-Cursor": str(next_after)} if next_after is not None else None
    return json_response(await projects_service.with_conversations(connection, projects), headers)


@router.get("/{project_id}", response_model=ProjectRead, responses=NOT_FOUND)
async def read_project(project_id: int, principal: ProjectsRead, connection: ReadDep) -> Response:
    project = await projects_service.read_owned(connection, principal, project_id)
    [shaped] = await projects_service.with_conversations(connection, [project])
    return json_response(shaped)


@router.patch("/{project_id}", response_model=ProjectRead, responses=NOT_FOUND)
async def update_project(
    project_id: int, body: ProjectUpdate, principal: ProjectsWrite, session: SessionDep
) -> Response:
    project = await projects_service.update(session, principal, project_id, body)
    [shaped] = await projects_service.with_conversations(await in_transaction(session), [project])
    return json_response(shaped)


@router.delete(
    "/{project_id}",
    response_model=ProjectDeleted,
    responses=NOT_FOUND,
    description="Deletes the project with its conversations, their messages and attachment "
    "links. Uploaded files stay in the caller's file library (`/api/v1/files`).",
)
async def delete_project(
    project_id: int, principal: ProjectsDelete, session: SessionDep
) -> ProjectDeleted:
    await projects_service.delete(session, principal, project_id)
    return ProjectDeleted(id=str(project_id))


@admin_router.get(
    "/metrics",
    response_model=AdminMetrics,
    responses={403: {"description": "Not an administrator"}},
    description="Workspace totals (administrators only). `activeUsers24h` counts users seen "
    "in the last 24 hours.",
)
async def read_admin_metrics(principal: SystemAdmin, session: SessionDep) -> AdminMetrics:
    since = utcnow() - timedelta(hours=24)
    return await projects_service.workspace_metrics(session, principal, since)
