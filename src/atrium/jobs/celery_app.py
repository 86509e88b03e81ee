"""The Celery executor: the API sends job ids to the broker; `atrium worker` runs them.

A worker builds the same app (settings, database, storage, runners) without serving HTTP,
runs an asyncio loop in a thread with its job engine, and hands every task to that loop:
`atrium.jobs.run` (one job id and kind) or `atrium.jobs.run_many` (the jobs committed while
the dispatcher sent the previous message: a burst costs one message, not one each). The task
claims the rows first (the claims of a message are one UPDATE), so a duplicate message or a
second worker finds nothing to do. The engine in the worker also claims orphaned jobs
(expired lease, lost message) and fires schedules.
"""

import asyncio
import logging
import threading
from collections import deque
from typing import Any

from celery import Celery

from atrium.config import Settings

log = logging.getLogger("atrium.jobs")
TASK_NAME = "atrium.jobs.run"  # one job: (job id, kind)
MANY_TASK_NAME = "atrium.jobs.run_many"  # the jobs committed while the last message was sent
JOBS_PER_MESSAGE = 32
DISPATCH_IDLE_SECONDS = 5.0


def broker_url(settings: Settings) -> str:
    url = settings.celery_broker_url or settings.redis_url
    if not url:
        raise RuntimeError(
            "ATRIUM_JOBS_EXECUTOR=celery needs a broker: set ATRIUM_CELERY_BROKER_URL "
            "or ATRIUM_REDIS_URL"
        )
    return url


def make_celery(settings: Settings) -> Celery:
    app = Celery("atrium", broker=broker_url(settings))
    app.conf.update(
        task_default_queue=settings.celery_queue,
        task_ignore_result=True,
        task_serializer="json",
        accept_content=["json"],
        broker_connection_retry_on_startup=True,
        worker_hijack_root_logger=False,
        worker_prefetch_multiplier=16,
    )
    return app


class Dispatcher:
    """What the API calls after a commit: send the job id to the broker.

    The sends run in order on a thread of the dispatcher's own; the caller only queues the id,
    so a request (or a loop of enqueues) does not wait for Celery building the message and for
    the broker's round trip. A send that fails is logged and its job stays queued: a worker
    claims it once it has waited longer than a lease, as it does for a lost message or for a
    process that died between its commit and its send. The thread ends when it has been idle
    for a while and starts again with the next send; `close()` waits for the queued sends.
    """

    def __init__(self, settings: Settings) -> None:
        self.celery = make_celery(settings)
        self.queue = settings.celery_queue
        self._pending: deque[tuple[int, float, str | None]] = deque()
        self._lock = threading.Lock()
        self._queued = threading.Condition(self._lock)
        self._thread: threading.Thread | None = None
        self._closing = False

    async def __call__(
        self, job_id: int, delay_seconds: float = 0.0, kind: str | None = None
    ) -> None:
        with self._lock:
            self._pending.append((job_id, delay_seconds, kind))
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="atrium-jobs-dispatch", daemon=True
                )
                self._thread.start()
            else:
                self._queued.notify()

    def _run(self) -> None:
        while True:
            with self._lock:
                if not self._pending and not self._closing:
                    self._queued.wait(DISPATCH_IDLE_SECONDS)
                if not self._pending:
                    self._thread = None
                    return
                due, delayed = self._take()
            if len(due) == 1:
                self._send(TASK_NAME, list(due[0]), None)
            elif due:
                self._send(MANY_TASK_NAME, [[list(job) for job in due]], None)
            for job_id, delay_seconds, kind in delayed:
                self._send(TASK_NAME, [job_id, kind], delay_seconds)

    def _take(self) -> tuple[list[tuple[int, str | None]], list[tuple[int, float, str | None]]]:
        """What is queued, up to a message's worth: jobs due now go in one message (what
        piled up while the last one was sent), delayed ones (retries) each in its own."""
        due: list[tuple[int, str | None]] = []
        delayed = []
        while self._pending and len(due) < JOBS_PER_MESSAGE:
            job_id, delay_seconds, kind = self._pending.popleft()
            if delay_seconds > 0:
                delayed.append((job_id, delay_seconds, kind))
            else:
                due.append((job_id, kind))
        return due, delayed

    def _send(self, task: str, args: list[Any], delay_seconds: float | None) -> None:
        try:
            self.celery.send_task(task, args=args, queue=self.queue, countdown=delay_seconds)
        except Exception:
            log.warning(
                "sending %s %s to the broker failed; a worker claims its jobs after a lease",
                task,
                args,
                exc_info=True,
            )

    async def close(self, timeout_s: float = 10.0) -> None:
        """Send what is queued (up to `timeout_s`), then let the thread end (shutdown)."""
        with self._lock:
            self._closing = True
            thread = self._thread
            self._queued.notify()
        if thread is not None:
            await asyncio.to_thread(thread.join, timeout_s)


def make_dispatcher(settings: Settings) -> Dispatcher:
    return Dispatcher(settings)


class WorkerRuntime:
    """The worker's app and event loop, shared by every task thread."""

    def __init__(self, settings: Settings) -> None:
        from atrium.app import create_app

        self.settings = settings
        self.app = create_app(settings)
        self.app.state.jobs_role = "worker"
        self.loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._stopping: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._run, name="atrium-jobs-loop", daemon=True)

    def start(self) -> None:
        self._thread.start()
        if not self._ready.wait(60):
            raise RuntimeError("the worker's app did not start within 60 s")

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_until_complete(self._main())

    async def _main(self) -> None:
        self._stopping = asyncio.Event()
        async with self.app.router.lifespan_context(self.app):
            self._ready.set()
            await self._stopping.wait()

    def run_job(self, job_id: int, kind: str | None = None) -> Any:
        engine = self.app.state.jobs
        future = asyncio.run_coroutine_threadsafe(engine.run_by_id(int(job_id), kind), self.loop)
        return future.result()

    def run_jobs(self, jobs: list[list[Any]]) -> Any:
        engine = self.app.state.jobs
        pairs = [(int(job_id), kind) for job_id, kind in jobs]
        return asyncio.run_coroutine_threadsafe(engine.run_many(pairs), self.loop).result()

    def stop(self) -> None:
        if self._stopping is not None:
            self.loop.call_soon_threadsafe(self._stopping.set)
        self._thread.join(30)


def run_worker(settings: Settings, concurrency: int | None = None) -> None:
    """`atrium worker`: a Celery worker (thread pool) on the settings' queue."""
    runtime = WorkerRuntime(settings)
    celery = make_celery(settings)

    @celery.task(name=TASK_NAME, ignore_result=True)
    def run(job_id: int, kind: str | None = None) -> Any:
        return runtime.run_job(job_id, kind)

    @celery.task(name=MANY_TASK_NAME, ignore_result=True)
    def run_many(jobs: list[list[Any]]) -> Any:
        return runtime.run_jobs(jobs)

    runtime.start()
    try:
        celery.worker_main(
            [
                "worker",
                "--pool=threads",
                f"--concurrency={concurrency or settings.worker_concurrency}",
                f"--queues={settings.celery_queue}",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
                f"--loglevel={settings.log_level}",
                f"--hostname=atrium-{settings.celery_queue}@%h",
            ]
        )
    finally:
        runtime.stop()
