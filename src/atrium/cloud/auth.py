"""The cloud domain's permission aliases, declared once."""

from typing import Annotated

from fastapi import Depends

from atrium.auth.deps import require
from atrium.auth.principal import Principal

CloudRead = Annotated[Principal, Depends(require("cloud", "read"))]
CloudWrite = Annotated[Principal, Depends(require("cloud", "write"))]
CloudDelete = Annotated[Principal, Depends(require("cloud", "delete"))]
CloudExecute = Annotated[Principal, Depends(require("cloud", "execute"))]
