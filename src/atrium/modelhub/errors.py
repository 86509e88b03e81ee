from atrium.errors import AtriumError


class ModelNotFound(AtriumError):
    status_code = 404
    code = "model_not_found"
    detail = "No such model"


class InvalidModelId(AtriumError):
    status_code = 422
    code = "invalid_model_id"
    detail = "A model id is `name` or `owner/name` of letters, digits, '.', '_' and '-'"


class HubUnavailable(AtriumError):
    status_code = 503
    code = "hub_unavailable"
    detail = "The model hub cannot be reached"


class InsufficientStorage(AtriumError):
    status_code = 507
    code = "insufficient_storage"
    detail = "Not enough free disk space for this model"


class UnknownBackend(AtriumError):
    status_code = 404
    code = "unknown_backend"
    detail = "No such model backend"


class InvalidArchive(AtriumError):
    status_code = 422
    code = "invalid_model_archive"
    detail = "The uploaded model is not a valid model archive"


class ModelExists(AtriumError):
    status_code = 409
    code = "model_exists"
    detail = "A local model with this id exists; delete it first"
