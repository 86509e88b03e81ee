from atrium.errors import Conflict, NotFound, ServiceUnavailable, Unprocessable


class TrainingJobNotFound(NotFound):
    code = "training_job_not_found"
    detail = "Training job not found"


class TrainingUnavailable(ServiceUnavailable):
    code = "training_unavailable"
    detail = (
        "Training needs the optional extra atrium[training] (torch, transformers, peft); "
        "install it with: pip install 'atrium[training]'"
    )


class UnknownBaseModel(Unprocessable):
    code = "unknown_base_model"
    field = "model"


class InvalidDataset(Unprocessable):
    code = "invalid_dataset"
    field = "dataset"


class UnsupportedConfig(Unprocessable):
    code = "unsupported_training_config"
    field = "lora_config.quantization_bits"


class TrainingJobRunning(Conflict):
    code = "job_not_finished"
    detail = "A running training job cannot be deleted; cancel it first"


class AdapterNotFound(NotFound):
    code = "adapter_not_found"
    detail = "Adapter not found"


class AdapterActive(Conflict):
    code = "adapter_active"
    detail = "The adapter is the active model; deactivate it first"


class DatasetNotFound(NotFound):
    code = "dataset_not_found"
    detail = "Dataset not found"


class ExperimentNotFound(NotFound):
    code = "experiment_not_found"
    detail = "Experiment not found"
