"""Who may read and write conversations: the `conversations` resource."""

from typing import Annotated

from fastapi import Depends

from atrium.auth.deps import require
from atrium.auth.principal import Principal

ConversationsRead = Annotated[Principal, Depends(require("conversations", "read"))]
ConversationsWrite = Annotated[Principal, Depends(require("conversations", "write"))]
ConversationsDelete = Annotated[Principal, Depends(require("conversations", "delete"))]
