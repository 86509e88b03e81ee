"""Who may read and change the Traefik configuration: `system:read` / `system:write`."""

from typing import Annotated

from fastapi import Depends

from atrium.auth.deps import require
from atrium.auth.principal import Principal

SystemRead = Annotated[Principal, Depends(require("system", "read"))]
SystemWrite = Annotated[Principal, Depends(require("system", "write"))]
