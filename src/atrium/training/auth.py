"""Who may train: the `training` resource (developers and administrators by default)."""

from typing import Annotated

from fastapi import Depends

from atrium.auth.deps import require
from atrium.auth.principal import Principal

TrainingRead = Annotated[Principal, Depends(require("training", "read"))]
TrainingWrite = Annotated[Principal, Depends(require("training", "write"))]
TrainingDelete = Annotated[Principal, Depends(require("training", "delete"))]
TrainingExecute = Annotated[Principal, Depends(require("training", "execute"))]
