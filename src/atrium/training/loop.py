"""The training loop itself, written with torch directly (no `Trainer`): every step is one call
the runner makes off the event loop, so it can check for pause and cancel, report metrics and
checkpoint between any two steps.

Deterministic order: the rows of epoch `e` are a permutation seeded by `seed + e`, and step `s`
takes a fixed slice of it, so a run resumed from a checkpoint at step `s` sees exactly the
batches an uninterrupted run would have.

Imported only by the runner: torch, transformers and peft are the optional extra."""

import math
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

STATE_FILE = "state.pt"
MODEL_DIR = "model"
IGNORE = -100  # label of tokens the loss skips (the prompt, padding)


@dataclass(frozen=True)
class Spec:
    base_model_path: str
    adapter_type: str  # lora | qlora | full
    lora: dict[str, Any] | None
    config: dict[str, Any]
    cpu_threads: int | None = None  # torch's intra-op threads on a CPU (None: its default)


def pick_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def _chat_text(tokenizer: Any, messages: list[dict[str, str]], prompt: bool) -> str:
    if getattr(tokenizer, "chat_template", None):
        return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=prompt)
    text = "".join(f"{message['role']}: {message['content']}\n" for message in messages)
    return text + ("assistant: " if prompt else "")


def split_row(row: dict[str, Any], tokenizer: Any) -> tuple[str, str]:
    """(prompt, completion): the loss is taken on the completion only."""
    if "messages" in row:
        messages = row["messages"]
        if messages[-1]["role"] == "assistant" and len(messages) > 1:
            return _chat_text(tokenizer, messages[:-1], True), messages[-1]["content"]
        return "", _chat_text(tokenizer, messages, False)
    if "prompt" in row:
        return row["prompt"], row["completion"]
    return "", row["text"]


def encode(
    rows: list[dict[str, Any]], tokenizer: Any, max_length: int
) -> list[tuple[list[int], list[int]]]:
    """(input ids, labels) per row; the prompt's labels are masked."""
    eos = tokenizer.eos_token_id
    examples = []
    for row in rows:
        prompt, completion = split_row(row, tokenizer)
        prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"] if prompt else []
        completion_ids = tokenizer(completion, add_special_tokens=False)["input_ids"]
        if eos is not None:
            completion_ids = [*completion_ids, eos]
        ids = (prompt_ids + completion_ids)[:max_length]
        labels = ([IGNORE] * len(prompt_ids) + completion_ids)[:max_length]
        if len(ids) < 2:
            continue
        if all(label == IGNORE for label in labels):  # the prompt fills the window
            labels = list(ids)
        examples.append((ids, labels))
    if not examples:
        raise ValueError("No row of the dataset yields at least two tokens")
    return examples


def _lr_factor(config: dict[str, Any], total: int):
    warmup = int(config["warmup_steps"])
    kind = config["scheduler"]

    def factor(step: int) -> float:
        if warmup and step < warmup:
            return (step + 1) / (warmup + 1)
        if kind == "constant":
            return 1.0
        done = (step - warmup) / max(1, total - warmup)
        if kind == "linear":
            return max(0.0, 1.0 - done)
        return 0.5 * (1.0 + math.cos(math.pi * min(1.0, done)))

    return factor


class FineTune:
    """One model being trained: built fresh or from a checkpoint directory."""

    def __init__(self, spec: Spec, rows: list[dict[str, Any]], checkpoint: Path | None) -> None:
        config = spec.config
        self.spec = spec
        self.device = pick_device()
        if self.device.type == "cpu" and spec.cpu_threads:
            torch.set_num_threads(spec.cpu_threads)
        self.seed = int(config.get("seed", 0))
        torch.manual_seed(self.seed)
        self.tokenizer = AutoTokenizer.from_pretrained(spec.base_model_path)
        if self.tokenizer.pad_token_id is None and self.tokenizer.eos_token is not None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.pad_id = self.tokenizer.pad_token_id or 0
        examples = encode(rows, self.tokenizer, int(config["max_length"]))
        order = torch.randperm(len(examples), generator=torch.Generator().manual_seed(self.seed))
        held = int(len(examples) * float(config.get("eval_fraction") or 0.0))
        held = min(held, len(examples) - 1)
        self.eval_examples = [examples[i] for i in order[:held].tolist()]
        self.train_examples = [examples[i] for i in order[held:].tolist()]
        self.batch_size = int(config["batch_size"])
        self.per_epoch = math.ceil(len(self.train_examples) / self.batch_size)
        self.total_steps = int(config.get("max_steps") or self.per_epoch * int(config["epochs"]))
        self.model = self._load_model(checkpoint)
        trainable = [param for param in self.model.parameters() if param.requires_grad]
        lr, decay = float(config["learning_rate"]), float(config["weight_decay"])
        if config["optimizer"] == "sgd":
            self.optimizer = torch.optim.SGD(trainable, lr=lr, weight_decay=decay, momentum=0.9)
        else:
            self.optimizer = torch.optim.AdamW(trainable, lr=lr, weight_decay=decay)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer, _lr_factor(config, self.total_steps)
        )
        self.step = 0
        if checkpoint is not None:
            state = torch.load(checkpoint / STATE_FILE, map_location="cpu", weights_only=False)
            self.optimizer.load_state_dict(state["optimizer"])
            self.scheduler.load_state_dict(state["scheduler"])
            self.step = int(state["step"])
            torch.set_rng_state(state["rng"])

    # -- building ---------------------------------------------------------------------------
    def _load_model(self, checkpoint: Path | None) -> Any:
        spec = self.spec
        quantized = None
        bits = (spec.lora or {}).get("quantization_bits")
        if spec.adapter_type == "qlora" and bits is None:
            bits = 4
        if bits is not None:
            if self.device.type != "cuda":
                raise ValueError("quantization_bits needs a CUDA GPU")
            from transformers import BitsAndBytesConfig

            quantized = BitsAndBytesConfig(load_in_4bit=bits == 4, load_in_8bit=bits == 8)
        source = spec.base_model_path
        if checkpoint is not None and spec.adapter_type == "full":
            source = str(checkpoint / MODEL_DIR)
        options: dict[str, Any] = {"dtype": torch.float32}
        if quantized is not None:
            options = {"quantization_config": quantized, "device_map": {"": self.device.index or 0}}
        model = AutoModelForCausalLM.from_pretrained(source, **options)
        if model.config.pad_token_id is None:
            model.config.pad_token_id = self.pad_id
        if spec.adapter_type != "full":
            from peft import LoraConfig, PeftModel, get_peft_model, prepare_model_for_kbit_training

            if quantized is not None:
                model = prepare_model_for_kbit_training(model)
            if checkpoint is not None:
                model = PeftModel.from_pretrained(model, checkpoint / MODEL_DIR, is_trainable=True)
            else:
                lora = spec.lora or {}
                model = get_peft_model(
                    model,
                    LoraConfig(
                        r=int(lora.get("rank", 16)),
                        lora_alpha=int(lora.get("alpha", 32)),
                        lora_dropout=float(lora.get("dropout", 0.05)),
                        target_modules=lora.get("target_modules") or None,
                        task_type="CAUSAL_LM",
                    ),
                )
        if quantized is None:
            model.to(self.device)
        return model

    # -- steps --------------------------------------------------------------------------------
    def _batch(self, examples: list[tuple[list[int], list[int]]]) -> dict[str, torch.Tensor]:
        width = max(len(ids) for ids, _ in examples)
        ids = torch.full((len(examples), width), self.pad_id, dtype=torch.long)
        labels = torch.full((len(examples), width), IGNORE, dtype=torch.long)
        mask = torch.zeros((len(examples), width), dtype=torch.long)
        for row, (tokens, targets) in enumerate(examples):
            ids[row, : len(tokens)] = torch.tensor(tokens)
            labels[row, : len(targets)] = torch.tensor(targets)
            mask[row, : len(tokens)] = 1
        return {
            "input_ids": ids.to(self.device),
            "attention_mask": mask.to(self.device),
            "labels": labels.to(self.device),
        }

    def batch_for(self, step: int) -> list[tuple[list[int], list[int]]]:
        epoch, index = divmod(step, self.per_epoch)
        generator = torch.Generator().manual_seed(self.seed + 1 + epoch)
        order = torch.randperm(len(self.train_examples), generator=generator).tolist()
        chosen = order[index * self.batch_size : (index + 1) * self.batch_size]
        return [self.train_examples[i] for i in chosen]

    def train_step(self) -> dict[str, Any]:
        """One optimiser step; its metrics."""
        started = time.perf_counter()
        self.model.train()
        batch = self._batch(self.batch_for(self.step))
        learning_rate = self.scheduler.get_last_lr()[0]
        loss = self.model(**batch).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_([p for p in self.model.parameters() if p.requires_grad], 1.0)
        self.optimizer.step()
        self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        self.step += 1
        tokens = int(batch["attention_mask"].sum())
        elapsed = max(time.perf_counter() - started, 1e-9)
        return {
            "step": self.step,
            "loss": float(loss.detach()),
            "learning_rate": float(learning_rate),
            "tokens": tokens,
            "tokens_per_second": round(tokens / elapsed, 2),
            "seconds": elapsed,
            "epoch": self.step / self.per_epoch,
        }

    def eval_loss(self) -> float | None:
        if not self.eval_examples:
            return None
        self.model.eval()
        total, count = 0.0, 0
        with torch.no_grad():
            for start in range(0, len(self.eval_examples), self.batch_size):
                chunk = self.eval_examples[start : start + self.batch_size]
                total += float(self.model(**self._batch(chunk)).loss) * len(chunk)
                count += len(chunk)
        return total / count

    # -- saving ---------------------------------------------------------------------------------
    def save_checkpoint(self, directory: Path) -> None:
        """Weights (the adapter, or the whole model), optimiser, schedule, step and RNG, written
        beside the previous checkpoint and swapped in by renames, so a crash while saving
        leaves the previous one whole."""
        fresh = directory.with_name(directory.name + ".new")
        old = directory.with_name(directory.name + ".old")
        shutil.rmtree(fresh, ignore_errors=True)
        fresh.mkdir(parents=True)
        self.model.save_pretrained(fresh / MODEL_DIR)
        torch.save(
            {
                "optimizer": self.optimizer.state_dict(),
                "scheduler": self.scheduler.state_dict(),
                "step": self.step,
                "rng": torch.get_rng_state(),
            },
            fresh / STATE_FILE,
        )
        shutil.rmtree(old, ignore_errors=True)
        if directory.exists():
            directory.replace(old)
        fresh.replace(directory)
        shutil.rmtree(old, ignore_errors=True)

    def save_result(self, folder: Path) -> None:
        """The trained adapter (LoRA) or model (full), with the tokenizer, loadable alone."""
        folder.mkdir(parents=True, exist_ok=True)
        self.model.save_pretrained(folder)
        self.tokenizer.save_pretrained(folder)


def checkpoint_dir(work: Path) -> Path | None:
    """The last whole checkpoint under a job's work directory (a crash mid-swap leaves `.old`)."""
    for name in ("checkpoint", "checkpoint.old"):
        candidate = work / name
        if (candidate / STATE_FILE).is_file():
            return candidate
    return None
