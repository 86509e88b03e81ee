"""Who may use projects (`projects:*`), and the administrators' instance-wide figures."""

from typing import Annotated

from fastapi import Depends

from atrium.auth.deps import require
from atrium.auth.principal import Principal

ProjectsRead = Annotated[Principal, Depends(require("projects", "read"))]
ProjectsWrite = Annotated[Principal, Depends(require("projects", "write"))]
ProjectsDelete = Annotated[Principal, Depends(require("projects", "delete"))]
SystemAdmin = Annotated[Principal, Depends(require("system", "read", admin=True))]
