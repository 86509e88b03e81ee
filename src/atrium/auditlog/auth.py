"""Who may read the audit log: `logs:read` (own rows, or everyone's with reach)."""

from typing import Annotated

from fastapi import Depends

from atrium.auth.deps import require
from atrium.auth.principal import Principal

LogsRead = Annotated[Principal, Depends(require("logs", "read"))]
