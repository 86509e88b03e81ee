"""Who may use the model registry: the instance's models, admin-only activation and deletion."""

from typing import Annotated

from fastapi import Depends

from atrium.auth.deps import require
from atrium.auth.principal import Principal

ModelsRead = Annotated[Principal, Depends(require("models", "read"))]
ModelsWrite = Annotated[Principal, Depends(require("models", "write"))]
ModelsAdmin = Annotated[Principal, Depends(require("system", "write"))]
