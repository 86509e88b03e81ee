from atrium.errors import Conflict, NotFound, Unprocessable


class JobNotFound(NotFound):
    code = "job_not_found"
    detail = "Job not found"


class InvalidStatusTransition(Conflict):
    code = "invalid_status_transition"
    detail = "The job cannot make that transition from its current status"

    def __init__(self, status: str, action: str, allowed: list[str]) -> None:
        super().__init__(
            f"A {status} job cannot be {action}; allowed: {', '.join(allowed) or 'none'}",
            allowed=allowed,
            status=status,
        )


class JobNotFinished(Conflict):
    code = "job_not_finished"
    detail = "Only a completed, failed or cancelled job can be deleted; cancel it first"


class UnknownJobKind(Unprocessable):
    code = "unknown_job_kind"
    detail = "No runner is registered for that job kind"
