"""The application factory: settings in, a FastAPI app with every surface out."""

import asyncio
import contextlib
import gc
import logging
from collections.abc import AsyncIterator, Awaitable
from importlib import import_module
from typing import Any

from fastapi import FastAPI

from atrium import __version__, datadir, fastapi_speedups, openapi, route_index
from atrium.config import Settings
from atrium.db import Database
from atrium.errors import install_error_handlers
from atrium.identity.cache import ActivityRecorder, AuthCache
from atrium.keys.formats import ATRIUM_KEY, KeyFormats
from atrium.mail.service import Mailer
from atrium.middleware import RequestContextMiddleware
from atrium.params import bound_integer_parameters
from atrium.security.secrets import load_secrets
from atrium.settings_store.cors import LiveCORSMiddleware
from atrium.users import service as users_service

log = logging.getLogger("atrium")
SHUTDOWN_STEP_SECONDS = 30.0

# Each module exposes `router`; a surface module may expose several (`routers`).
ROUTER_MODULES = (
    "atrium.health.router",
    "atrium.gateway.router",  # early: the gateway's hot path matches after few routers
    "atrium.conversations.router",  # early too: the workspace's sidebar list
    "atrium.surfaces.vault.conversations",  # and Vault's (its frontend stores every message)
    "atrium.identity.router",
    # the workspace's other reads, before the ~90 routes of administration (each route
    # passed costs a regex match; /auth/me stays ahead of them)
    "atrium.projects.router",
    "atrium.files.router",
    "atrium.users.router",
    "atrium.keys.router",
    "atrium.rbac.router",
    "atrium.settings_store.router",
    "atrium.surfaces.vault.auth",
    "atrium.surfaces.vault.users",
    "atrium.surfaces.vault.keys",
    "atrium.surfaces.cloud003.auth",
    "atrium.providers.router",
    "atrium.usage.router",
    "atrium.surfaces.forgetrace.usage",
    "atrium.surfaces.forgetrace.audits",
    "atrium.webhooks.router",
    "atrium.surfaces.vault.models",
    "atrium.surfaces.vault.health",
    "atrium.apidocs.router",
    "atrium.recovery.router",
    "atrium.auditlog.router",
    "atrium.activity.router",
    "atrium.surfaces.vault.activity",
    "atrium.insights.router",
    "atrium.surfaces.vault.insights",
    "atrium.system.router",
    "atrium.surfaces.vault.system",
    "atrium.jobs.router",
    "atrium.surfaces.vault.config",
    "atrium.surfaces.vault.audit",
    "atrium.traefik.router",
    "atrium.metrics.router",
    "atrium.tiers.router",
    "atrium.surfaces.opscenter.usage",
    "atrium.surfaces.opscenter.llm_config",
    "atrium.surfaces.opscenter.permissions",
    "atrium.billing.router",
    "atrium.surfaces.opscenter.revenue",
    "atrium.cloud.router",
    "atrium.surfaces.cloud003.onboarding",
    "atrium.surfaces.cloud003.client",
    "atrium.modelhub.router",
    "atrium.training.router",
    "atrium.surfaces.vault.training",
)
LARGE_BODY_PATHS = ("/api/v1/upload", "/api/v1/files", "/api/v1/models/upload")


def _routers_of(module_name: str) -> list:
    module = import_module(module_name)
    return list(getattr(module, "routers", None) or [module.router])


def _make_redis(settings: Settings):
    if not settings.redis_url:
        return None
    import redis.asyncio as redis

    return redis.from_url(settings.redis_url, decode_responses=True)


@contextlib.asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    state = app.state
    await state.auth_cache.load_denylist()
    async with state.db.sessions() as session:
        if await users_service.bootstrap_admin(session, state.settings):
            await session.commit()
    for hook in state.startup_hooks:
        await hook(app)
    recorder = asyncio.create_task(state.activity.run())
    # What exists once the app has started (modules, routes, schemas, tables: ~370k objects)
    # lives as long as the process. Frozen, the collector stops walking it: with many requests
    # in flight their objects reach the oldest generation fast, and each full collection
    # then walked everything (~100-200 ms of CPU holding the loop, several times a second).
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()  # collectable again, for a process that starts other apps (tests)
        recorder.cancel()
        for hook in reversed(state.shutdown_hooks):
            await _bounded(hook(app), "a shutdown hook")
        await _bounded(state.activity.flush(), "the activity flush")
        if state.redis is not None:
            await state.redis.aclose()
        await _bounded(state.db.dispose(), "closing the database pool")


async def _bounded(step: Awaitable[Any], what: str) -> None:
    """A shutdown step gets a deadline: one that waits on something that never comes (a lock
    held by a connection that is gone) must not keep the process from exiting."""
    try:
        await asyncio.wait_for(step, SHUTDOWN_STEP_SECONDS)
    except TimeoutError:
        log.error("%s did not finish within %s s and was abandoned", what, SHUTDOWN_STEP_SECONDS)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    fastapi_speedups.install()
    app = FastAPI(
        title="Atrium",
        version=__version__,
        description="Self-hosted AI platform backend.",
        lifespan=lifespan,
        swagger_ui_parameters={"persistAuthorization": True, "validatorUrl": None},
        docs_url=None,  # served by atrium.apidocs from local assets
        redoc_url=None,
    )
    state = app.state
    state.settings = settings
    datadir.secure(settings)
    state.secrets = load_secrets(settings)
    stock_sqlite = "aiosqlite" in settings.stock_libraries
    state.db = Database(
        settings.resolved_database_url,
        stock_sqlite=stock_sqlite,
        synchronous=settings.sqlite_synchronous,
        busy_timeout_s=settings.sqlite_busy_timeout_seconds,
    )
    state.redis = _make_redis(settings)
    state.key_formats = KeyFormats(ATRIUM_KEY)  # surfaces add theirs in their setup(app)
    state.auth_cache = AuthCache(state.db.sessions, state.redis, state.key_formats)
    state.auth_cache.install()
    state.activity = ActivityRecorder(state.db.sessions, every_seconds=60.0)
    state.startup_hooks = []
    state.user_deletion_hooks = []  # async (session, user_id) before a user is deleted
    state.shutdown_hooks = []
    state.started_at = None
    state.large_bodies = {path: settings.max_upload_bytes for path in LARGE_BODY_PATHS}
    state.mailer = Mailer(settings)  # sends after the response; drained on shutdown
    state.shutdown_hooks.append(lambda app: app.state.mailer.drain())
    state.in_flight = {"inference": 0}  # requests in progress on /v1 (the middleware counts)

    install_error_handlers(app)
    for module_name in ROUTER_MODULES:
        for router in _routers_of(module_name):
            app.include_router(router)
        setup = getattr(import_module(module_name), "setup", None)
        if setup is not None:
            setup(app)
    bound_integer_parameters(app)
    openapi.install(app)
    route_index.install(app.router)

    # always present: the allowed origins are a live setting (none: requests pass through)
    app.add_middleware(LiveCORSMiddleware, live=state.live_settings)
    app.add_middleware(
        RequestContextMiddleware,
        max_body=settings.max_body_bytes,
        large_bodies=state.large_bodies,
        log_requests=settings.log_requests,
        audit=state.audit_log.queue.append if settings.audit_log_enabled else None,
        in_flight=state.in_flight,
    )
    return app
