"""The tiers domain's errors, each with a stable code."""

from datetime import datetime

from atrium.errors import Conflict, Forbidden, NotFound, TooManyRequests


class TierNotFound(NotFound):
    code = "tier_not_found"
    detail = "Tier not found"


class TierNameTaken(Conflict):
    code = "tier_name_taken"
    detail = "A tier with this name already exists"


class TierInUse(Conflict):
    code = "tier_in_use"


class PlanQuotaExceeded(TooManyRequests):
    """A tier's monthly limit is used up; it names the limit and when it resets."""

    code = "plan_quota_exceeded"

    def __init__(self, detail: str, *, limit: str, resets_at: datetime, retry_after: int) -> None:
        super().__init__(
            detail,
            headers={"Retry-After": str(max(1, retry_after))},
            limit=limit,
            resets_at=resets_at.isoformat().replace("+00:00", "Z"),
        )
        self.retry_after = max(1, retry_after)


class StorageQuotaExceeded(Forbidden):
    code = "quota_exceeded"
