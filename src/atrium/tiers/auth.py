"""Who may read and change tiers: system settings for the tiers, user management for a
user's tier; changes are an administrator's."""

from typing import Annotated

from fastapi import Depends

from atrium.auth.deps import require
from atrium.auth.principal import Principal

TiersRead = Annotated[Principal, Depends(require("system", "read"))]
TiersWrite = Annotated[Principal, Depends(require("system", "write", admin=True))]
TiersDelete = Annotated[Principal, Depends(require("system", "delete", admin=True))]
UserTierRead = Annotated[Principal, Depends(require())]  # own tier; others with reach
UserTierWrite = Annotated[Principal, Depends(require("users", "write", admin=True))]
