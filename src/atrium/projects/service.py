"""Projects: a user's named groups of conversations. Deleting one deletes its conversations,
their messages and attachment links (database cascades); the files stay in the library."""

from sqlalchemy import ColumnElement, select, true
from sqlalchemy.ext.asyncio import AsyncSession

from atrium.auth.principal import Principal
from atrium.conversations import listing_cache
from atrium.db import utcnow
from atrium.errors import NotFound
from atrium.projects.schemas import ProjectCreate, ProjectUpdate
from atrium.projects.tables import Project

MAX_PAGE = 1000


class ProjectNotFound(NotFound):
    code = "project_not_found"
    detail = "Project not found"


def _visible(principal: Principal, action: str) -> ColumnElement[bool]:
    if principal.reaches("projects", action):
        return true()
    return Project.user_id == principal.user_id


async def get_owned(
    session: AsyncSession, principal: Principal, project_id: int, action: str = "read"
) -> Project:
    project = await session.scalar(
        select(Project).where(Project.id == project_id, _visible(principal, action))
    )
    if project is None:
        raise ProjectNotFound()
    return project


async def create(session: AsyncSession, principal: Principal, data: ProjectCreate) -> Project:
    project = Project(user_id=principal.user_id, **data.model_dump())
    session.add(project)
    await session.flush()
    return project


async def list_own(
    session: AsyncSession, principal: Principal, *, limit: int | None, after_id: int | None
) -> tuple[list[Project], int | None]:
    """The caller's projects, oldest first; with the id to continue after when more remain."""
    size = min(limit or MAX_PAGE, MAX_PAGE)
    query = select(Project).where(Project.user_id == principal.user_id)
    if after_id is not None:
        query = query.where(Project.id > after_id)
    rows = list(await session.scalars(query.order_by(Project.id).limit(size + 1)))
    if len(rows) > size:
        return rows[:size], rows[size - 1].id
    return rows, None


async def update(
    session: AsyncSession, principal: Principal, project_id: int, changes: ProjectUpdate
) -> Project:
    project = await get_owned(session, principal, project_id, "write")
    for field, value in changes.model_dump(exclude_unset=True).items():
        setattr(project, field, value)
    project.updated_at = utcnow()
    await session.flush()
    return project


async def delete(session: AsyncSession, principal: Principal, project_id: int) -> None:
    project = await get_owned(session, principal, project_id, "delete")
    await session.delete(project)
    await session.flush()
    listing_cache.changed(session, project.user_id)  # its conversations went with it
