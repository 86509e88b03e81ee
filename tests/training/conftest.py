import pytest

from tests.training.helpers import BASE_MODEL, build_tiny_model, jsonl, models_dir, rows
from tests.training.helpers import upload_dataset as upload


@pytest.fixture(scope="module")
def dataset_root(tmp_path_factory):
    return tmp_path_factory.mktemp("datasets")


@pytest.fixture(scope="module")
def settings_overrides(dataset_root) -> dict[str, object]:
    """The runner in the test app's process (fast); test_training_processes overrides it."""
    return {
        "jobs_poll_seconds": 0.05,
        "job_lease_seconds": 30.0,
        "jobs_subprocess_heavy": False,
        "dataset_roots": [str(dataset_root)],
        "training_cpu_threads": 1,  # a tiny model: one thread, not two spinning on a busy box
    }


@pytest.fixture(scope="module")
def base_model(app, client):
    return build_tiny_model(models_dir(app) / BASE_MODEL)


@pytest.fixture
def developer(create_user, base_model):
    return create_user("developer")


@pytest.fixture
def dataset(client, developer):
    return upload(client, developer.headers, jsonl(rows()))
