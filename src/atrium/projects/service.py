"""Projects: a user's named groups of conversations. Deleting one deletes its conversations,
their messages and attachment links (database cascades); the files stay in the library.

Projects sit above conversations: a project's view embeds its conversations (read through
`conversations.service`), and this module registers with that domain the rule for putting a
conversation in a project (`_check_conversation_project`), so that conversations never import
projects. The workspace's admin totals are composed here, from each domain's service."""

from collections.abc import Sequence
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import ColumnElement, Integer, bindparam, func, select, true
from sqlalchemy.ext.asyncio import AsyncSession

from atrium.auth.principal import Principal
from atrium.conversations import service as conversations_service
from atrium.conversations.schemas import summary_fields
from atrium.db import utcnow
from atrium.errors import NotFound
from atrium.prepared import Prepared
from atrium.projects.schemas import AdminMetrics, ProjectCreate, ProjectUpdate, project_fields
from atrium.projects.tables import Project
from atrium.reader import Reader
from atrium.users import service as users_service

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


async def _check_conversation_project(
    session: AsyncSession, principal: Principal, project_id: int, owner_id: int
) -> None:
    """A conversation of `owner_id` may sit in a project the caller may write to and that
    `owner_id` owns."""
    project = await get_owned(session, principal, project_id, "write")
    if project.user_id != owner_id:
        raise ProjectNotFound()


conversations_service.register_project_check(_check_conversation_project)


async def create(session: AsyncSession, principal: Principal, data: ProjectCreate) -> Project:
    project = Project(user_id=principal.user_id, **data.model_dump())
    session.add(project)
    await session.flush()
    return project


class ProjectRow(NamedTuple):
    """A project as the read paths load it: prebuilt statements on a connection, no ORM, rows
    copied into named tuples (a SQLAlchemy `Row`'s attribute access is twenty times slower)."""

    id: int
    user_id: int
    name: str
    description: str | None
    color: str | None
    created_at: datetime
    updated_at: datetime


_project = Project.__table__.c
_RECORD = select(*(_project[name] for name in ProjectRow._fields))
_by_id = _RECORD.where(_project.id == bindparam("project_id"))
_BY_ID = Prepared(_by_id)
_OWN_BY_ID = Prepared(_by_id.where(_project.user_id == bindparam("user_id")))
_OWN_PAGE = Prepared(
    _RECORD.where(_project.user_id == bindparam("user_id"), _project.id > bindparam("after_id"))
    .order_by(_project.id)
    .limit(bindparam("size", type_=Integer))
)


async def read_owned(reader: Reader, principal: Principal, project_id: int) -> ProjectRow:
    """A project the caller may read (`get_owned` without the ORM)."""
    params = {"project_id": project_id}
    statement = _BY_ID
    if not principal.reaches("projects", "read"):
        statement, params["user_id"] = _OWN_BY_ID, principal.user_id
    project = await reader.first(statement, params)
    if project is None:
        raise ProjectNotFound()
    return ProjectRow._make(project)


async def list_own(
    reader: Reader, principal: Principal, *, limit: int | None, after_id: int | None
) -> tuple[list[ProjectRow], int | None]:
    """The caller's projects, oldest first; with the id to continue after when more remain."""
    size = min(limit or MAX_PAGE, MAX_PAGE)
    params = {"user_id": principal.user_id, "after_id": after_id or 0, "size": size + 1}
    rows = [ProjectRow._make(row) for row in await reader.all(_OWN_PAGE, params)]
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
    conversations_service.project_removed(session, project.user_id)


async def with_conversations(reader: Reader, projects: Sequence[Any]) -> list[dict[str, Any]]:
    """The projects (objects or rows) as clients see them, `ProjectRead`'s JSON fields, each
    with its conversations (one query for all)."""
    by_project = await conversations_service.summaries_by_project(
        reader, [project.id for project in projects]
    )
    return [
        project_fields(project, [summary_fields(row) for row in by_project.get(project.id, ())])
        for project in projects
    ]


async def workspace_metrics(
    session: AsyncSession, principal: Principal, active_since: datetime
) -> AdminMetrics:
    """Seed 004's admin totals (administrators only): users (and those active since
    `active_since`), projects, conversations and messages."""
    users, active = await users_service.count_users(session, active_since)
    projects = int(await session.scalar(select(func.count()).select_from(Project)) or 0)
    conversations, messages = await conversations_service.totals(session)
    return AdminMetrics(
        total_users=users,
        total_projects=projects,
        total_conversations=conversations,
        total_messages=messages,
        active_users_24h=active,
    )
