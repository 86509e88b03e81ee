"""Who may do what with audits (and the webhooks that report on them)."""

from typing import Annotated

from fastapi import Depends

from atrium.auth.deps import require
from atrium.auth.principal import Principal

AuditsRead = Annotated[Principal, Depends(require("audits", "read"))]
AuditsWrite = Annotated[Principal, Depends(require("audits", "write"))]
AuditsDelete = Annotated[Principal, Depends(require("audits", "delete"))]
AuditsExecute = Annotated[Principal, Depends(require("audits", "execute"))]
