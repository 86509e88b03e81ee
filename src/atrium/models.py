"""Imports every domain's tables so that `Base.metadata` is complete (Alembic, tests)."""

from atrium.auth import tables as auth_tables
from atrium.db import Base
from atrium.keys import tables as keys_tables
from atrium.rbac import tables as rbac_tables
from atrium.users import tables as users_tables

__all__ = ["Base", "auth_tables", "keys_tables", "rbac_tables", "users_tables"]
