"""The engine's SQL, built once with bound parameters.

Building a statement (coercing each clause) and computing its cache key cost far more than
running it on a small table; a statement object built once and executed with parameters pays
neither again. Core statements on the table, not ORM ones: the ORM's bulk-update path costs
several times more per call.
"""

from functools import cache

from sqlalchemy import (
    ColumnElement,
    Insert,
    Select,
    Update,
    and_,
    bindparam,
    func,
    insert,
    or_,
    select,
    tuple_,
    update,
)

from atrium.db import UTCDateTime
from atrium.jobs.tables import Job, JobEvent

JOB = Job.__table__
c = JOB.c
NOW = "now"


def _at(name: str):
    return bindparam(name, type_=UTCDateTime())


def claimable(*, stale: bool = False) -> ColumnElement[bool]:
    """Queued and due; or running without a live lease (crashed, or resumed and waiting).

    With `stale`, only queued jobs that have waited since before `:stale_before` (a lost
    message). Parameters: `now` (and `stale_before`).
    """
    queued = and_(c.status == "queued", or_(c.run_after.is_(None), c.run_after <= _at(NOW)))
    if stale:
        queued = and_(queued, c.updated_at < _at("stale_before"))
    orphaned = and_(c.status == "running", or_(c.lease_until.is_(None), c.lease_until < _at(NOW)))
    return or_(queued, orphaned)


def mine() -> ColumnElement[bool]:
    """The row is still this run's: running under its claim token (`:claim`)."""
    return and_(c.status == "running", c.worker == bindparam("claim"))


@cache
def candidates(stale: bool) -> Select:
    """Ids and kinds worth claiming, oldest first. Parameters: `now`, `kinds`, `limit`."""
    # `kind || ''`: SQLite would otherwise walk the (kind, id) index through every finished job
    # of the kind; the status index reaches only the waiting and running ones
    return (
        select(c.id, c.kind)
        .where(claimable(stale=stale), (c.kind + "").in_(bindparam("kinds", expanding=True)))
        .order_by(c.id)
        .limit(bindparam("limit"))
    )


@cache
def claim(stale: bool) -> Update:
    """Claim the claimable rows among `:ids` for `:claim` until `:lease_until`."""
    return (
        update(JOB)
        .where(c.id.in_(bindparam("ids", expanding=True)), claimable(stale=stale))
        .values(
            status="running",
            worker=bindparam("claim"),
            lease_until=_at("lease_until"),
            attempts=c.attempts + 1,
            started_at=func.coalesce(c.started_at, _at(NOW)),
            stage=None,
            event_seq=c.event_seq + 1,
            updated_at=_at(NOW),
        )
        .returning(
            c.id,
            c.kind,
            c.owner_id,
            c.payload,
            c.attempts,
            c.checkpoint,
            c.control,
            c.event_seq,
            c.progress,
        )
    )


@cache
def renew() -> Update:
    """Extend to `:lease_until` the leases of the running jobs held under `:claims`."""
    return (
        update(JOB)
        .where(c.status == "running", c.worker.in_(bindparam("claims", expanding=True)))
        .values(lease_until=_at("lease_until"))
        .returning(c.worker)
    )


@cache
def save_checkpoint() -> Update:
    """Parameters: `job_id`, `claim`, `state`, `lease_until`, `now`."""
    return (
        update(JOB)
        .where(c.id == bindparam("job_id"), mine())
        .values(
            checkpoint=bindparam("state", type_=c.checkpoint.type),
            lease_until=_at("lease_until"),
            updated_at=_at(NOW),
        )
    )


@cache
def control() -> Select:
    return select(c.control).where(c.id == bindparam("job_id"))


@cache
def transition(names: tuple[str, ...]) -> Update:
    """Set the columns `names` (parameters `v_<name>`) of job `:job_id` while it is this run's
    (`:claim`), bump its event sequence; returns what its event carries."""
    values = {name: bindparam(f"v_{name}", type_=c[name].type) for name in names}
    return (
        update(JOB)
        .where(c.id == bindparam("job_id"), mine())
        .values({**values, "event_seq": c.event_seq + 1, "updated_at": _at(NOW)})
        .returning(c.event_seq, c.owner_id, c.kind, c.status, c.progress, c.stage)
    )


@cache
def transition_many(names: tuple[str, ...]) -> Update:
    """`transition` for many runs at once, all given the same values: `:runs` are (job id,
    claim token) pairs; returns the job id first."""
    values = {name: bindparam(f"v_{name}", type_=c[name].type) for name in names}
    return (
        update(JOB)
        .where(c.status == "running", tuple_(c.id, c.worker).in_(bindparam("runs", expanding=True)))
        .values({**values, "event_seq": c.event_seq + 1, "updated_at": _at(NOW)})
        .returning(c.id, c.event_seq, c.owner_id, c.kind, c.status, c.progress, c.stage)
    )


@cache
def insert_events() -> Insert:
    return insert(JobEvent.__table__)


@cache
def insert_job() -> Insert:
    return insert(JOB).returning(c.id)
