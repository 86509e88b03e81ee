"""Vault's admin configuration pages as views over Atrium's one settings store, and truthful
answers for what Atrium does not offer (LDAP, an upload quarantine)."""

import asyncio
from typing import Any

from fastapi import APIRouter, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, Field, ValidationError

from atrium.auth.deps import Public
from atrium.auth.principal import Principal
from atrium.db import SessionDep
from atrium.errors import Unprocessable
from atrium.settings_store import service as settings_service
from atrium.settings_store.auth import SettingsRead, SettingsWrite
from atrium.settings_store.schemas import AdminSettingsRead, AdminSettingsUpdate
from atrium.system import host

router = APIRouter(prefix="/vault", tags=["vault"])
public_router = APIRouter(prefix="/vault", tags=["vault"], dependencies=[Public])
routers = [router, public_router]


class NetworkConfig(BaseModel):
    hostname: str
    ip_address: str
    subnet_mask: str
    gateway: str
    dns_servers: list[str]
    network_mode: str


class NetworkConfigUpdate(BaseModel):
    hostname: str | None = None
    dns_servers: list[str] | None = None


class SystemConfig(BaseModel):
    timezone: str
    language: str
    auto_update: bool
    telemetry: bool
    session_timeout: int
    max_upload_size: int
    debug_logging: bool
    diagnostics_enabled: bool


class SystemConfigUpdate(BaseModel):
    timezone: str | None = None
    language: str | None = None
    auto_update: bool | None = None
    telemetry: bool | None = None
    session_timeout: int | None = Field(default=None, ge=60, le=43200 * 60)
    max_upload_size: int | None = Field(default=None, ge=1, le=2**50)
    debug_logging: bool | None = None
    diagnostics_enabled: bool | None = None


class LdapConfig(BaseModel):
    enabled: bool = False
    url: str = ""
    bind_dn: str = ""
    bind_password: str = ""
    user_search_base: str = ""
    group_search_base: str = ""
    user_search_filter: str = ""
    use_ssl: bool = False
    default_role: str = "user"
    available: bool = False
    reason: str = "Atrium does not offer LDAP sign-in; accounts are local"


class TlsInfo(BaseModel):
    enabled: bool
    self_signed: bool
    issuer: str | None = None
    expires: str | None = None
    serial: str | None = None
    detail: str | None = None


class QuarantineConfig(BaseModel):
    max_file_size: int
    max_batch_files: int
    max_compression_ratio: float
    max_archive_depth: int
    auto_approve_clean: bool
    strictness_level: str
    ai_safety_enabled: bool
    pii_enabled: bool
    pii_action: str
    injection_detection_enabled: bool
    model_hash_verification: bool
    available: bool
    reason: str


async def _save(
    request: Request,
    session: Any,
    principal: Principal,
    values: dict[str, Any],
    names: dict[str, str],
) -> AdminSettingsRead:
    """Store through the settings store; a 422 names the Vault field, nothing is stored."""
    try:
        changes = AdminSettingsUpdate.model_validate(values)
    except ValidationError as exc:
        errors = [
            {**error, "loc": ("body", names.get(str(error["loc"][0]), str(error["loc"][0])))}
            for error in exc.errors(include_url=False, include_context=False)
        ]
        raise RequestValidationError(errors) from None
    return await settings_service.update_live(request.app.state, session, principal, changes)


async def _current(request: Request, session: Any) -> AdminSettingsRead:
    state = request.app.state
    return await settings_service.get_all(session, state.settings, state.live_settings.env)


def _network(values: AdminSettingsRead) -> NetworkConfig:
    actual = host.network()
    if values.network_hostname:
        actual["hostname"] = values.network_hostname
    if values.network_dns_servers is not None:
        actual["dns_servers"] = values.network_dns_servers
    return NetworkConfig(**actual)


@router.get(
    "/admin/config/network",
    response_model=NetworkConfig,
    description="The host's real network figures; hostname and DNS servers as an "
    "administrator stored them for display (Atrium never changes the host's network).",
)
async def get_vault_network(
    principal: SettingsRead, request: Request, session: SessionDep
) -> NetworkConfig:
    values = await _current(request, session)
    return await asyncio.to_thread(_network, values)


@router.put("/admin/config/network", response_model=NetworkConfig)
async def update_vault_network(
    body: NetworkConfigUpdate, principal: SettingsWrite, request: Request, session: SessionDep
) -> NetworkConfig:
    given = body.model_dump(exclude_unset=True)
    values = {"network_" + name: value for name, value in given.items()}
    names = {"network_hostname": "hostname", "network_dns_servers": "dns_servers"}
    saved = await _save(request, session, principal, values, names)
    return await asyncio.to_thread(_network, saved)


def _system(values: AdminSettingsRead) -> SystemConfig:
    return SystemConfig(
        timezone=values.display_timezone,
        language=values.display_language,
        auto_update=False,
        telemetry=False,
        session_timeout=values.access_token_minutes * 60,
        max_upload_size=values.max_upload_bytes,
        debug_logging=values.debug_logging,
        diagnostics_enabled=False,
    )


@router.get(
    "/admin/config/system",
    response_model=SystemConfig,
    description="`session_timeout` is the access-token lifetime (seconds) and "
    "`max_upload_size` the upload limit; Atrium never updates itself nor sends "
    "telemetry or diagnostics, so those read false.",
)
async def get_vault_system_config(
    principal: SettingsRead, request: Request, session: SessionDep
) -> SystemConfig:
    return _system(await _current(request, session))


@router.put("/admin/config/system", response_model=SystemConfig)
async def update_vault_system_config(
    body: SystemConfigUpdate, principal: SettingsWrite, request: Request, session: SessionDep
) -> SystemConfig:
    given = body.model_dump(exclude_unset=True)
    for name in ("auto_update", "telemetry", "diagnostics_enabled"):
        if given.pop(name, None):
            raise Unprocessable(f"{name}: Atrium does not offer this; it can only be false")
    values: dict[str, Any] = {}
    names = {
        "display_timezone": "timezone",
        "display_language": "language",
        "access_token_minutes": "session_timeout",
        "max_upload_bytes": "max_upload_size",
    }
    if "timezone" in given:
        values["display_timezone"] = given["timezone"]
    if "language" in given:
        values["display_language"] = given["language"]
    if "debug_logging" in given:
        values["debug_logging"] = given["debug_logging"]
    if given.get("session_timeout") is not None:
        values["access_token_minutes"] = max(1, round(given["session_timeout"] / 60))
        if given["session_timeout"] < 60:
            raise Unprocessable("session_timeout: must be at least 60 seconds")
    if given.get("max_upload_size") is not None:
        values["max_upload_bytes"] = given["max_upload_size"]
    return _system(await _save(request, session, principal, values, names))


@router.get("/admin/config/ldap", response_model=LdapConfig)
async def get_vault_ldap(principal: SettingsRead) -> LdapConfig:
    return LdapConfig()


@router.put("/admin/config/ldap", response_model=LdapConfig)
async def update_vault_ldap(body: dict[str, Any], principal: SettingsWrite) -> LdapConfig:
    if body.get("enabled"):
        raise Unprocessable("enabled: Atrium does not offer LDAP sign-in")
    return LdapConfig()


@router.get(
    "/admin/ldap/mappings",
    response_model=list[dict[str, Any]],
    description="Always empty: without LDAP there are no group mappings.",
)
async def list_vault_ldap_mappings(principal: SettingsRead) -> list[dict[str, Any]]:
    return []


@public_router.get("/auth/ldap-enabled", response_model=dict[str, bool])
async def get_vault_ldap_enabled() -> dict[str, bool]:
    return {"ldap_enabled": False}


@router.get(
    "/admin/config/tls",
    response_model=TlsInfo,
    description="Atrium does not terminate TLS itself; this reports the certificate "
    "served at the https public base URL, if one is set.",
)
async def get_vault_tls(principal: SettingsRead, request: Request) -> TlsInfo:
    base_url = request.app.state.live_settings.values.get("public_base_url")
    return TlsInfo(**await asyncio.to_thread(host.tls_of, base_url))


@router.get(
    "/admin/config/quarantine",
    response_model=QuarantineConfig,
    description="Atrium does not hold uploads for scanning: every check reads off, "
    "and `max_file_size` is the real upload limit.",
)
async def get_vault_quarantine(principal: SettingsRead, request: Request) -> QuarantineConfig:
    return QuarantineConfig(
        max_file_size=request.app.state.settings.max_upload_bytes,
        max_batch_files=1,
        max_compression_ratio=0,
        max_archive_depth=0,
        auto_approve_clean=True,
        strictness_level="none",
        ai_safety_enabled=False,
        pii_enabled=False,
        pii_action="none",
        injection_detection_enabled=False,
        model_hash_verification=False,
        available=False,
        reason="Atrium does not scan or hold uploads; files are stored as uploaded",
    )
