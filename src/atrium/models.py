"""Imports every domain's tables so that `Base.metadata` is complete (Alembic, tests)."""

from atrium.activity import tables as activity_tables
from atrium.auditlog import tables as auditlog_tables
from atrium.audits import tables as audits_tables
from atrium.billing import tables as billing_tables
from atrium.cloud import tables as cloud_tables
from atrium.conversations import tables as conversations_tables
from atrium.db import Base
from atrium.files import tables as files_tables
from atrium.identity import tables as identity_tables
from atrium.jobs import tables as jobs_tables
from atrium.keys import tables as keys_tables
from atrium.projects import tables as projects_tables
from atrium.providers import tables as providers_tables
from atrium.rbac import tables as rbac_tables
from atrium.recovery import tables as recovery_tables
from atrium.settings_store import tables as settings_store_tables
from atrium.tiers import tables as tiers_tables
from atrium.training import tables as training_tables
from atrium.usage import tables as usage_tables
from atrium.users import tables as users_tables
from atrium.webhooks import tables as webhooks_tables

__all__ = [
    "Base",
    "activity_tables",
    "auditlog_tables",
    "audits_tables",
    "billing_tables",
    "cloud_tables",
    "conversations_tables",
    "files_tables",
    "identity_tables",
    "jobs_tables",
    "keys_tables",
    "projects_tables",
    "providers_tables",
    "rbac_tables",
    "recovery_tables",
    "settings_store_tables",
    "tiers_tables",
    "training_tables",
    "usage_tables",
    "users_tables",
    "webhooks_tables",
]
