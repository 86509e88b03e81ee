"""Who may read system telemetry: `system:read`."""

from typing import Annotated

from fastapi import Depends

from atrium.auth.deps import require
from atrium.auth.principal import Principal

SystemRead = Annotated[Principal, Depends(require("system", "read"))]
