"""Who may read and change the instance's settings: `system:read`/`write` (administrators by
default; moderators read)."""

from typing import Annotated

from fastapi import Depends

from atrium.auth.deps import require
from atrium.auth.principal import Principal

SettingsRead = Annotated[Principal, Depends(require("system", "read"))]
SettingsWrite = Annotated[Principal, Depends(require("system", "write"))]
