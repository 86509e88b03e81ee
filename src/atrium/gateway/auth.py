"""Who may call the OpenAI-compatible surface: `llm:read` lists models, `llm:execute` runs them."""

from typing import Annotated

from fastapi import Depends

from atrium.auth.deps import require
from atrium.auth.principal import Principal

LlmRead = Annotated[Principal, Depends(require("llm", "read"))]
LlmExecute = Annotated[Principal, Depends(require("llm", "execute"))]
