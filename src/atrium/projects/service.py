"""Projects: a user's named groups of conversations. Deleting one deletes its conversations,
their messages and attachment links (database cascades); the files stay in the library.

Projects sit above conversations: a project's view embeds its conversations (read through
`conversations.service`), and this module registers with that domain the rule for putting a
conversation in a project (`_check_conversation_project`), so that conversations never import
projects. The workspace's admin totals are composed here, from each domain's service."""

from datetime import datetime

from sqlalchemy import ColumnElement, func, select, true
from sqlalchemy.ext.asyncio import AsyncSession

from atrium.auth.principal import Principal
from atrium.conversations import service as conversations_service
from atrium.conversations.schemas import ConversationSummary
from atrium.db import utcnow
from atrium.errors import NotFound
from atrium.projects.schemas import AdminMetrics, ProjectCreate, ProjectRead, ProjectUpdate
from atrium.projects.tables import Project
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
    conversations_service.project_removed(session, project.user_id)


async def with_conversations(session: AsyncSession, projects: list[Project]) -> list[ProjectRead]:
    """The projects as clients see them, each with its conversations (one query for all)."""
    by_project = await conversations_service.summaries_by_project(
        session, [project.id for project in projects]
    )
    shaped = []
    for project in projects:
        read = ProjectRead.model_validate(project)
        rows = by_project.get(project.id, ())
        read.conversations = [ConversationSummary.model_validate(row) for row in rows]
        shaped.append(read)
    return shaped


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
