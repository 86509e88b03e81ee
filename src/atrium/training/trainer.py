"""The `training` job's runner: a CPU-heavy runner (the local executor gives it a process of its
own). It loads the rows, builds or restores the model, then runs steps off the event loop,
checking for pause and cancel before each one; reports each step's metrics as a job event and
on the training row; checkpoints every `checkpoint_every` steps and on pause; and, once done,
installs the result (the LoRA adapter or the whole model) as a local model of the registry.

A crash (the process killed) loses at most the steps since the last checkpoint: the engine's
lease expires, the job is claimed again and the run restarts from the checkpoint on disk,
with the same global step."""

import asyncio
import importlib
import shutil
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import update

from atrium.db import utcnow
from atrium.jobs.runners import JobContext, runner
from atrium.modelhub import service as modelhub_service
from atrium.training import datasets
from atrium.training.service import KIND, output_model_id, work_dir
from atrium.training.tables import TrainingJob

ROW_EVERY_SECONDS = 1.0  # the row's metrics at most this often (each step goes out as an event)
HISTORY_LIMIT = 5000  # loss points kept on the row; beyond it, every other one is dropped


async def _row(ctx: JobContext, training_id: int) -> TrainingJob | None:
    async with ctx.sessions() as session:
        return await session.get(TrainingJob, training_id)


async def _save(ctx: JobContext, training_id: int, **values: Any) -> None:
    async with ctx.sessions() as session:
        await session.execute(
            update(TrainingJob)
            .where(TrainingJob.id == training_id)
            .values(**values, updated_at=utcnow())
        )
        await session.commit()


async def _rows_of(ctx: JobContext, row: TrainingJob) -> list[dict[str, Any]]:
    try:
        if row.dataset_key:
            checker = await datasets.check_stream(
                ctx.app_state.storage.read(row.dataset_key), keep_rows=True
            )
        elif row.dataset_path:
            checker = await asyncio.to_thread(
                datasets.check_file, Path(row.dataset_path), keep_rows=True
            )
        else:
            raise datasets.DatasetError("The dataset file was deleted")
    except datasets.DatasetError:
        raise
    except Exception as exc:  # the upload was deleted since (local or S3 storage)
        raise datasets.DatasetError(f"The dataset can no longer be read ({exc})") from exc
    return checker.rows


def _duration(seconds: float) -> str:
    seconds = max(0, int(seconds))
    hours, rest = divmod(seconds, 3600)
    return f"{hours}h {rest // 60}m {rest % 60}s" if hours else f"{rest // 60}m {rest % 60}s"


class Metrics:
    """The row's `metrics` (CONTRACTS' TrainingMetrics), kept up to date step by step."""

    def __init__(self, stored: dict[str, Any] | None, step: int, total: int, epochs: int) -> None:
        self.values = dict(stored or {})
        # steps after the checkpoint are run again: their points go
        for key in ("loss_history", "eval_loss_history"):
            self.values[key] = [p for p in self.values.get(key) or [] if p["step"] <= step]
        self.values.update(steps_completed=step, total_steps=total, total_epochs=epochs)
        self.step_seconds: list[float] = []

    def add(self, point: dict[str, Any]) -> None:
        values = self.values
        values["loss"] = point["loss"]
        values["learning_rate"] = point["learning_rate"]
        values["tokens_processed"] = int(values.get("tokens_processed") or 0) + point["tokens"]
        values["tokens_per_second"] = point["tokens_per_second"]
        values["steps_completed"] = point["step"]
        values["epochs_completed"] = int(point["epoch"])
        history = values["loss_history"]
        history.append({"step": point["step"], "loss": point["loss"]})
        if len(history) > HISTORY_LIMIT:
            values["loss_history"] = history[::2]
        self.step_seconds = [*self.step_seconds[-49:], point["seconds"]]
        left = values["total_steps"] - point["step"]
        average = sum(self.step_seconds) / len(self.step_seconds)
        values["estimated_time_remaining"] = _duration(left * average)

    def add_eval(self, step: int, loss: float) -> None:
        self.values["eval_loss"] = loss
        self.values["eval_loss_history"].append({"step": step, "loss": loss})


async def _checkpoint(ctx: JobContext, fine: Any, work: Path) -> None:
    await asyncio.to_thread(fine.save_checkpoint, work / "checkpoint")
    await ctx.checkpoint({"step": fine.step})


def _install(fine: Any, settings: Any, row: TrainingJob, model_id: str) -> dict[str, Any]:
    done = modelhub_service.local_model(settings, model_id)
    if done is not None:  # installed by a run that crashed before recording it (the id is ours)
        return done
    staging = Path(modelhub_service.models_root(settings)) / ".incoming" / f"training-{row.id}"
    shutil.rmtree(staging, ignore_errors=True)
    fine.save_result(staging)
    meta = {
        "task": "text-generation",
        "tags": ["fine-tuned", row.adapter_type, f"base_model:{row.base_model}"],
        "base_model": row.base_model,
        "base_model_path": row.base_model_path,
        "adapter_type": row.adapter_type,
        "training_job_id": row.id,
        "downloaded_at": datetime.now(UTC).isoformat(),
    }
    try:
        return modelhub_service.install_model(settings, model_id, staging, meta)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


@runner(KIND, resource="training", cpu_heavy=True, concurrency=1, max_attempts=1)
async def run_training(ctx: JobContext) -> Any:
    """Trains one job to its last step; returns the job's result (the model's id, figures)."""
    training_id = int(ctx.payload["training_id"])
    row = await _row(ctx, training_id)
    if row is None:
        return {"skipped": "the training job was deleted"}
    # the optional extra, imported where it runs and off the loop (seconds: leases renew)
    loop = await asyncio.to_thread(importlib.import_module, "atrium.training.loop")
    await ctx.progress(0.0, "reading the dataset")
    rows = await _rows_of(ctx, row)
    work = work_dir(ctx.settings, training_id)
    await asyncio.to_thread(work.mkdir, parents=True, exist_ok=True)
    spec = loop.Spec(
        row.base_model_path,
        row.adapter_type,
        row.lora_config,
        row.config,
        ctx.settings.training_cpu_threads,
    )
    restored = await asyncio.to_thread(loop.checkpoint_dir, work)
    await ctx.progress(0.0, "loading the model")
    fine = await asyncio.to_thread(loop.FineTune, spec, rows, restored)
    total, every = fine.total_steps, int(row.config.get("checkpoint_every") or 50)
    metrics = Metrics(row.metrics, fine.step, total, int(row.config["epochs"]))
    metrics.values["device"] = str(fine.device)  # read by the GPU allocation view
    await _save(ctx, training_id, metrics=metrics.values)
    started = {"step": fine.step, "total_steps": total, "device": str(fine.device)}
    await ctx.emit("training_started", {**started, "resumed": restored is not None})
    saved_at = time.monotonic()
    while fine.step < total:
        request = await ctx.stop_request()
        if request is not None:
            await _save(ctx, training_id, metrics=metrics.values)
            if request == "pause":
                await _checkpoint(ctx, fine, work)
            else:  # a cancelled run is never resumed: its checkpoints go
                await asyncio.to_thread(shutil.rmtree, work, True)
            return ctx.stopped()
        point = await asyncio.to_thread(fine.train_step)
        metrics.add(point)
        event = {key: point[key] for key in ("step", "loss", "learning_rate", "tokens_per_second")}
        if fine.eval_examples and (fine.step % every == 0 or fine.step == total):
            eval_loss = await asyncio.to_thread(fine.eval_loss)
            metrics.add_eval(fine.step, eval_loss)
            event["eval_loss"] = eval_loss
        await ctx.emit("metrics", {**event, "total_steps": total, "epoch": point["epoch"]})
        await ctx.progress(fine.step / total, f"training: step {fine.step} of {total}")
        if fine.step % every == 0 and fine.step < total:
            # the row first: a crash between the two leaves it ahead of the checkpoint (the
            # re-run drops the extra points), never behind it (points would be lost)
            await _save(ctx, training_id, metrics=metrics.values)
            await _checkpoint(ctx, fine, work)
            saved_at = time.monotonic()
        elif time.monotonic() - saved_at >= ROW_EVERY_SECONDS:
            await _save(ctx, training_id, metrics=metrics.values)
            saved_at = time.monotonic()
    await ctx.progress(1.0, "saving the trained model")
    model_id = output_model_id(row)
    installed = await asyncio.to_thread(_install, fine, ctx.settings, row, model_id)
    await _save(ctx, training_id, metrics=metrics.values, output_model=model_id)
    await asyncio.to_thread(shutil.rmtree, work, True)
    return {
        "training_id": training_id,
        "model_id": model_id,
        "path": installed["path"],
        "steps": fine.step,
        "final_loss": metrics.values.get("loss"),
    }
