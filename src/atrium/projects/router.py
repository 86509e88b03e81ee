"""Seed 004's projects: `/api/v1/projects` (POST, GET) and `/{id}` (GET, PATCH, DELETE)."""

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response

from atrium.auth.deps import require
from atrium.auth.principal import Principal
from atrium.conversations import service as conversations_service
from atrium.db import SessionDep
from atrium.projects import service as projects_service
from atrium.projects.schemas import ProjectCreate, ProjectDeleted, ProjectRead, ProjectUpdate
from atrium.projects.tables import Project

router = APIRouter(prefix="/api/v1/projects", tags=["projects"])

ProjectsRead = Annotated[Principal, Depends(require("projects", "read"))]
ProjectsWrite = Annotated[Principal, Depends(require("projects", "write"))]
ProjectsDelete = Annotated[Principal, Depends(require("projects", "delete"))]
NOT_FOUND = {404: {"description": "No such project, or not the caller's"}}


async def _with_conversations(session: SessionDep, projects: list[Project]) -> list[ProjectRead]:
    by_project = await conversations_service.summaries_by_project(
        session, [project.id for project in projects]
    )
    return [
        ProjectRead.model_validate(project).model_copy(
            update={"conversations": by_project.get(project.id, [])}
        )
        for project in projects
    ]


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
    response: Response,
    principal: ProjectsRead,
    session: SessionDep,
    limit: Annotated[int | None, Query(ge=1, le=1000)] = None,
    cursor: Annotated[int | None, Query(ge=0, description="From X-Next-Cursor")] = None,
) -> list[ProjectRead]:
    projects, next_after = await projects_service.list_own(
        session, principal, limit=limit, after_id=cursor
    )
    if next_after is not None:
        response.headers["X-Next-Cursor"] = str(next_after)
    return await _with_conversations(session, projects)


@router.get("/{project_id}", response_model=ProjectRead, responses=NOT_FOUND)
async def read_project(
    project_id: int, principal: ProjectsRead, session: SessionDep
) -> ProjectRead:
    project = await projects_service.get_owned(session, principal, project_id)
    return (await _with_conversations(session, [project]))[0]


@router.patch("/{project_id}", response_model=ProjectRead, responses=NOT_FOUND)
async def update_project(
    project_id: int, body: ProjectUpdate, principal: ProjectsWrite, session: SessionDep
) -> ProjectRead:
    project = await projects_service.update(session, principal, project_id, body)
    return (await _with_conversations(session, [project]))[0]


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
