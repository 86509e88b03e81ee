"""Who may see, change and try the LLM providers: the `llm` resource. Changes to the
instance's global providers are an administrator's (`LlmAdminWrite`, `LlmAdminDelete`)."""

from typing import Annotated

from fastapi import Depends

from atrium.auth.deps import require
from atrium.auth.principal import Principal

LlmRead = Annotated[Principal, Depends(require("llm", "read"))]
LlmWrite = Annotated[Principal, Depends(require("llm", "write"))]
LlmDelete = Annotated[Principal, Depends(require("llm", "delete"))]
LlmExecute = Annotated[Principal, Depends(require("llm", "execute"))]
LlmAdminWrite = Annotated[Principal, Depends(require("llm", "write", admin=True))]
LlmAdminDelete = Annotated[Principal, Depends(require("llm", "delete", admin=True))]
