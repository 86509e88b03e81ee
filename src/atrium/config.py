"""One settings object for the whole service, read from ATRIUM_* variables and `.env`."""

from functools import cached_property
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

CommaList = Annotated[list[str], NoDecode]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="ATRIUM_", env_file=".env", env_nested_delimiter="__", extra="ignore"
    )

    data_dir: Path = Path("data")
    database_url: str | None = None
    redis_url: str | None = None
    sqlite_synchronous: Literal["NORMAL", "FULL"] = Field(
        default="NORMAL",
        description="SQLite's `synchronous` in WAL mode: NORMAL survives a process crash (a "
        "power loss may lose the last commits); FULL syncs every commit.",
    )
    sqlite_busy_timeout_seconds: float = Field(
        default=5.0, gt=0, description="How long a SQLite writer waits for another's lock."
    )

    jwt_secret: SecretStr | None = None
    encryption_keys: SecretStr | None = Field(
        default=None, description="Comma-separated Fernet keys; the first encrypts, all decrypt."
    )
    access_token_minutes: int = 30
    refresh_token_days: int = 7
    refresh_rotation: bool = True
    refresh_grace_seconds: int = 10
    password_min_length: int = 8
    registration_open: bool = True
    default_user_budget_usd: float = 10.0
    login_max_failures: int = 5
    trusted_proxies: CommaList = []

    admin_email: str | None = None
    admin_username: str | None = None
    admin_password: SecretStr | None = None

    cors_origins: CommaList = Field(
        default=[], validation_alias=AliasChoices("ATRIUM_CORS_ORIGINS", "CORS_ORIGINS")
    )
    max_body_bytes: int = 10 * 1024 * 1024
    max_upload_bytes: int = 2 * 1024 * 1024 * 1024
    user_storage_quota_bytes: int = 20 * 1024 * 1024 * 1024
    storage_backend: Literal["local", "s3"] = "local"
    s3_bucket: str | None = None
    s3_endpoint_url: str | None = None
    s3_region: str = "us-east-1"

    # cloud accounts (AWS credentials and endpoint come from boto3's own variables)
    aws_principal_arn: str | None = None
    cloud_idle_cpu_percent: float = 5.0
    cloud_idle_min_days: int = 7
    cloud_metric_days: int = 14
    cloud_snapshot_max_age_days: int = 90
    cloud_stopped_max_days: int = 30
    cloud_cost_history_days: int = 90
    cloud_discovery_threads: int = 8
    cloud_s3_list_max_objects: int = 100_000
    cloud_pipeline_poll_seconds: float = Field(
        default=60.0, description="How often due pipeline schedules are looked for (0: never)"
    )
    cloud_event_retention_days: int = 7
    usage_flush_seconds: float = 1.0
    audit_log_enabled: bool = True
    audit_flush_seconds: float = 1.0
    audit_log_retention_days: int = Field(default=365, ge=0, description="0 keeps rows forever")
    traefik_api_url: str | None = None
    traefik_dynamic_file: str | None = None
    metrics_token: SecretStr | None = None

    audit_roots: CommaList = Field(
        default=[], description="Directories under which local paths may be audited."
    )
    allow_private_repositories: bool = False
    training_cpu_threads: int | None = Field(
        default=None,
        ge=1,
        le=1024,
        description="Threads torch uses for training on a CPU (default: torch's own choice). "
        "On a busy machine fewer threads can be many times faster.",
    )
    dataset_roots: CommaList = Field(
        default=[], description="Directories under which training datasets may be read by path."
    )
    audit_clone_timeout_seconds: float = 300.0
    audit_max_repository_bytes: int = 2 * 1024 * 1024 * 1024
    audit_max_archive_files: int = 200_000
    audit_max_archive_ratio: float = 200.0
    webhook_retry_base_seconds: float = 10.0
    billing_currency: str = "USD"
    billing_invoicing_seconds: float = 3600.0
    billing_sync_seconds: float = 3600.0
    lago_api_url: str | None = Field(
        default=None, validation_alias=AliasChoices("ATRIUM_LAGO_API_URL", "LAGO_API_URL")
    )
    lago_api_key: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("ATRIUM_LAGO_API_KEY", "LAGO_API_KEY")
    )
    lago_events_flush_seconds: float = 5.0
    log_requests: bool = True
    log_level: str = "INFO"

    public_base_url: str | None = Field(
        default=None, description="Where users reach Atrium; links in emails start with it."
    )
    smtp_host: str | None = None
    smtp_port: int = 587
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_from: str | None = None
    smtp_starttls: bool = True
    password_reset_minutes: int = 60
    stock_libraries: CommaList = Field(
        default=[],
        description="For the bench only: `aiosqlite` and/or `httpx` run the stock library "
        "where Atrium replaced one (SQLite driver, the gateway's HTTP transport).",
    )

    hf_endpoint: str | None = Field(
        default=None,
        validation_alias=AliasChoices("ATRIUM_HF_ENDPOINT", "HF_ENDPOINT"),
        description="The Hugging Face hub (or a mirror) the model registry searches and pulls.",
    )
    models_dir: Path | None = Field(
        default=None, description="Where downloaded models live (default: <data_dir>/models)."
    )
    jobs_executor: Literal["local", "celery"] = "local"
    job_lease_seconds: float = 30.0
    jobs_poll_seconds: float = 1.0
    jobs_retry_base_seconds: float = 1.0
    jobs_imports: CommaList = Field(
        default=[], description="Modules to import for their job runners (plugins, workers)."
    )
    jobs_subprocess_heavy: bool = True
    celery_broker_url: str | None = None
    celery_queue: str = "atrium"
    worker_concurrency: int = 8

    @field_validator(
        "cors_origins", "trusted_proxies", "jobs_imports", "stock_libraries", mode="before"
    )
    @classmethod
    def split_commas(cls, value: object) -> object:
        if isinstance(value, str):
            return [item.strip() for item in value.split(",") if item.strip()]
        return value

    @field_validator("audit_roots", "dataset_roots", mode="before")
    @classmethod
    def split_audit_roots(cls, value: object) -> object:
        if isinstance(value, str):
            return [item.strip() for item in value.split(",") if item.strip()]
        return value

    @cached_property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite+aiosqlite:///{self.data_dir / 'atrium.db'}"

    @property
    def is_sqlite(self) -> bool:
        return self.resolved_database_url.startswith("sqlite")

    @property
    def single_host(self) -> bool:
        """SQLite and no Redis: every process shares this machine's data directory."""
        return self.is_sqlite and not self.redis_url
