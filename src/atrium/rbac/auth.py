"""Who may read and change roles and grants. Changing them is an administrator's right by
default, granted as `permissions:write`/`delete`."""

from typing import Annotated

from fastapi import Depends

from atrium.auth.deps import require
from atrium.auth.principal import Principal

PermissionsRead = Annotated[Principal, Depends(require("permissions", "read"))]
PermissionsWrite = Annotated[Principal, Depends(require("permissions", "write"))]
PermissionsDelete = Annotated[Principal, Depends(require("permissions", "delete"))]
