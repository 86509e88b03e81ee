"""Who may read usage and prices (`usage:read`, `llm:read`); changing prices is an
administrator's."""

from typing import Annotated

from fastapi import Depends

from atrium.auth.deps import require
from atrium.auth.principal import Principal

LlmRead = Annotated[Principal, Depends(require("llm", "read"))]
LlmAdmin = Annotated[Principal, Depends(require("llm", "write", admin=True))]
UsageRead = Annotated[Principal, Depends(require("usage", "read"))]
