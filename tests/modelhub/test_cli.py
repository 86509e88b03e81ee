"""`atrium models pull`: the same verified, resumable download from a terminal."""

import pytest
from typer.testing import CliRunner

from atrium.cli import cli
from tests.modelhub.hub_server import FakeHub, HubRepo, safetensors_bytes

WEIGHTS = safetensors_bytes(100_000)


@pytest.fixture
def hub():
    server = FakeHub()
    server.add(HubRepo("cli-org/tiny", {"config.json": b"{}", "model.safetensors": WEIGHTS}))
    yield server
    server.close()


def test_models_pull_downloads_and_resumes(hub, tmp_path, monkeypatch):
    monkeypatch.setenv("ATRIUM_HF_ENDPOINT", hub.url)
    monkeypatch.setenv("ATRIUM_DATA_DIR", str(tmp_path))
    hub.cut_after["model.safetensors"] = 150_000
    result = CliRunner().invoke(cli, ["models", "pull", "cli-org/tiny"])
    assert result.exit_code == 0, result.output
    assert "retrying" in result.output and "cli-org/tiny@" in result.output
    assert (tmp_path / "models/cli-org/tiny/model.safetensors").read_bytes() == WEIGHTS
    assert hub.served["model.safetensors"] == len(WEIGHTS)

    missing = CliRunner().invoke(cli, ["models", "pull", "cli-org/none"])
    assert missing.exit_code == 1 and "No such model" in missing.output
    traversal = CliRunner().invoke(cli, ["models", "pull", "../x"])
    assert traversal.exit_code == 1
