"""`GET /api/v1/activity`: the activity feed, newest first."""

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Response

from atrium.activity import service as activity_service
from atrium.activity.schemas import ActivityRead
from atrium.auth.deps import CurrentPrincipal
from atrium.db import SessionDep

router = APIRouter(prefix="/api/v1/activity", tags=["activity"])
MAX_ID = 2**31 - 1


@router.get(
    "",
    response_model=list[ActivityRead],
    description="What happened, newest first: the caller's own events, or everyone's for roles "
    "that read every user's logs. The next page's cursor comes in `X-Next-Cursor`; the total in "
    "`X-Total-Count`.",
)
async def list_activity(
    response: Response,
    principal: CurrentPrincipal,
    session: SessionDep,
    type: Literal["training", "upload", "inference", "user", "system"] | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    cursor: Annotated[int | None, Query(ge=1, le=MAX_ID, description="From X-Next-Cursor")] = None,
) -> list[ActivityRead]:
    events, total = await activity_service.feed(
        session, principal, limit=limit, before_id=cursor, type=type
    )
    if len(events) == limit:
        response.headers["X-Next-Cursor"] = str(events[-1].id)
    response.headers["X-Total-Count"] = str(total)
    return [ActivityRead.model_validate(event) for event in events]
