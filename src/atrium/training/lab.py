"""Seed 003's lab: experiments group a user's training runs; a comparison sets their
hyper-parameters, final figures and per-step losses side by side."""

from typing import Any

from sqlalchemy import select, true, update
from sqlalchemy.ext.asyncio import AsyncSession

from atrium.auth.principal import Principal
from atrium.shapes import iso_z
from atrium.training import service
from atrium.training.errors import ExperimentNotFound
from atrium.training.schemas import (
    ExperimentComparison,
    ExperimentCreate,
    ExperimentRead,
    RunComparison,
    metrics_of,
)
from atrium.training.tables import LabExperiment, TrainingJob

MAX_PAGE = 1000


async def get_owned(
    session: AsyncSession, principal: Principal, experiment_id: int
) -> LabExperiment:
    visible = (
        true()
        if principal.reaches("training", "read")
        else LabExperiment.user_id == principal.user_id
    )
    row = await session.scalar(
        select(LabExperiment).where(LabExperiment.id == experiment_id, visible)
    )
    if row is None:
        raise ExperimentNotFound()
    return row


async def _run_ids(session: AsyncSession, experiment_ids: list[int]) -> dict[int, list[int]]:
    rows = await session.execute(
        select(TrainingJob.experiment_id, TrainingJob.id)
        .where(TrainingJob.experiment_id.in_(experiment_ids))
        .order_by(TrainingJob.id)
    )
    found: dict[int, list[int]] = {experiment_id: [] for experiment_id in experiment_ids}
    for experiment_id, training_id in rows:
        found[experiment_id].append(training_id)
    return found


def _read(row: LabExperiment, run_ids: list[int]) -> ExperimentRead:
    return ExperimentRead(
        id=str(row.id),
        name=row.name,
        description=row.description,
        training_job_ids=[str(run_id) for run_id in run_ids],
        created_at=iso_z(row.created_at) or "",
    )


async def create(
    session: AsyncSession, principal: Principal, data: ExperimentCreate
) -> ExperimentRead:
    """An experiment, with the caller's runs named (each must be theirs: 404 otherwise)."""
    for training_id in data.training_job_ids:
        await service.get_owned(session, principal, training_id, "write")
    row = LabExperiment(user_id=principal.user_id, name=data.name, description=data.description)
    session.add(row)
    await session.flush()
    if data.training_job_ids:
        await session.execute(
            update(TrainingJob)
            .where(TrainingJob.id.in_(data.training_job_ids))
            .values(experiment_id=row.id),
            execution_options={"synchronize_session": False},
        )
    return _read(row, sorted(set(data.training_job_ids)))


async def list_own(
    session: AsyncSession, principal: Principal, *, offset: int, limit: int
) -> list[ExperimentRead]:
    rows = list(
        await session.scalars(
            select(LabExperiment)
            .where(LabExperiment.user_id == principal.user_id)
            .order_by(LabExperiment.id.desc())
            .offset(offset)
            .limit(min(limit, MAX_PAGE))
        )
    )
    runs = await _run_ids(session, [row.id for row in rows])
    return [_read(row, runs[row.id]) for row in rows]


def _final(metrics: Any) -> dict[str, Any]:
    return {
        "loss": metrics.loss,
        "eval_loss": metrics.eval_loss,
        "steps_completed": metrics.steps_completed,
        "total_steps": metrics.total_steps,
        "tokens_processed": metrics.tokens_processed,
        "tokens_per_second": metrics.tokens_per_second,
    }


async def compare(
    session: AsyncSession, principal: Principal, experiment_id: int
) -> ExperimentComparison:
    experiment = await get_owned(session, principal, experiment_id)
    rows = list(
        await session.scalars(
            select(TrainingJob)
            .where(TrainingJob.experiment_id == experiment.id)
            .order_by(TrainingJob.id)
        )
    )
    reads = await service.read_many(session, rows)
    runs = []
    for row, read in zip(rows, reads, strict=True):
        metrics = metrics_of(row.metrics)
        runs.append(
            RunComparison(
                id=read.id,
                name=read.name,
                status=read.status,
                model=read.model,
                adapter_type=read.adapter_type,
                config=row.config,
                lora_config=row.lora_config,
                final=_final(metrics),
                loss_history=metrics.loss_history,
                eval_loss_history=metrics.eval_loss_history,
            )
        )
    keys = sorted({key for run in runs for key in run.config})
    differing = [k for k in keys if len({repr(run.config.get(k)) for run in runs}) > 1]
    return ExperimentComparison(
        experiment=_read(experiment, [row.id for row in rows]), parameters=differing, runs=runs
    )
