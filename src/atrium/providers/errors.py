"""The provider endpoints' errors, each with a stable code."""

from atrium.errors import BadRequest, Conflict, Forbidden, NotFound


class ProviderNotFound(NotFound):
    code = "provider_not_found"
    detail = "Provider not found"


class ProviderNameTaken(Conflict):
    code = "provider_name_taken"
    detail = "A provider with this name already exists"


class GlobalProviderReadOnly(Forbidden):
    code = "global_provider"
    detail = "Only an administrator can change a global provider"


class InvalidApiBase(BadRequest):
    code = "invalid_api_base"
