"""The training tests' tiny model (built from a config here: no download), datasets, waits.

Where torch, transformers or peft is missing the tests are skipped with a loud reason, and
under `CI=true` their collection fails instead (`make test` installs the training extra)."""

import importlib.util
import json
import os
import time
import warnings
from pathlib import Path
from typing import Any

import pytest

MISSING = [
    name for name in ("torch", "transformers", "peft") if importlib.util.find_spec(name) is None
]
REASON = (
    f"TRAINING TESTS SKIPPED: {', '.join(MISSING)} not installed; "
    "install the extra with pip install -e '.[dev,training]'"
)
if MISSING:
    if os.environ.get("CI") == "true":
        pytest.fail(REASON + " (CI=true: the training extra is required)", pytrace=False)
    print(f"\n*** {REASON} ***\n")
    warnings.warn(REASON, stacklevel=1)
requires_training = pytest.mark.skipif(bool(MISSING), reason=REASON)

BASE_MODEL = "test/tiny-gpt2"
COLOURS = ["red", "green", "blue", "yellow", "black", "white", "orange", "purple"]
THINGS = ["apple", "leaf", "sky", "sun", "night", "snow", "carrot", "plum"]
WAIT_SECONDS = 90.0


def rows() -> list[dict[str, str]]:
    return [
        {"prompt": f"what colour is the {thing} ?", "completion": f"the {thing} is {colour}"}
        for thing, colour in zip(THINGS, COLOURS, strict=True)
    ]


def jsonl(items: list[Any]) -> bytes:
    return "".join(json.dumps(item) + "\n" for item in items).encode()


def build_tiny_model(folder: Path) -> Path:
    """A one-layer GPT-2 (32-wide) and a word-level tokenizer over the dataset's words."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

    if (folder / "config.json").is_file():
        return folder
    words = sorted({w for row in rows() for text in row.values() for w in text.split()})
    vocab = {token: index for index, token in enumerate(["<pad>", "<unk>", "<eos>", *words])}
    backend = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend, unk_token="<unk>", pad_token="<pad>", eos_token="<eos>"
    )
    config = GPT2Config(
        vocab_size=len(vocab), n_positions=64, n_embd=32, n_layer=1, n_head=2,
        bos_token_id=2, eos_token_id=2, pad_token_id=0,
        resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0,
    )  # fmt: skip
    folder.mkdir(parents=True, exist_ok=True)
    GPT2LMHeadModel(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def models_dir(app) -> Path:
    settings = app.state.settings
    return settings.models_dir or settings.data_dir / "models"


def upload_dataset(client, headers, content: bytes, filename: str = "train.jsonl") -> str:
    response = client.post(
        "/api/v1/upload",
        files={"file": (filename, content, "application/jsonl")},
        headers=headers,
    )
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def job_body(dataset: str, **config: Any) -> dict[str, Any]:
    return {
        "name": "tiny run",
        "model": BASE_MODEL,
        "dataset": dataset,
        "adapter_type": "lora",
        "lora_config": {"rank": 8, "alpha": 16, "dropout": 0.0},
        "config": {
            "epochs": 1, "batch_size": 4, "learning_rate": 0.01, "warmup_steps": 0,
            "scheduler": "constant", "checkpoint_every": 5, **config,
        },
    }  # fmt: skip


def wait_for(client, headers, training_id: str, *statuses: str, check=None) -> dict[str, Any]:
    deadline = time.monotonic() + WAIT_SECONDS
    while True:
        job = client.get(f"/api/v1/training/jobs/{training_id}", headers=headers).json()
        if job["status"] in statuses and (check is None or check(job)):
            return job
        assert time.monotonic() < deadline, f"training {training_id} stuck: {job}"
        assert job["status"] not in ("failed",) or "failed" in statuses, job
        time.sleep(0.02)
