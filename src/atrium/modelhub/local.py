"""Models on disk: `<models_dir>/<owner>/<name>/`, finished downloads only (they arrive whole,
renamed from `.incoming/`). What a model is made of is read from its files."""

import json
import shutil
import struct
from pathlib import Path
from typing import Any

from atrium.config import Settings
from atrium.modelhub.hub import check_id

MARKER = ".atrium-model.json"  # written last by a download: the hub's metadata of the model
WEIGHT_SUFFIXES = (".safetensors", ".gguf", ".bin", ".pt", ".pth")
_GGUF_TYPES = ("Q2_K", "Q3_K_S", "Q3_K_M", "Q3_K_L", "Q4_0", "Q4_1", "Q4_K_S", "Q4_K_M", "Q5_0",
               "Q5_1", "Q5_K_S", "Q5_K_M", "Q6_K", "Q8_0", "IQ2_XXS", "IQ2_XS", "IQ3_XXS",
               "IQ4_XS", "IQ4_NL", "F16", "BF16", "F32")  # fmt: skip


def models_dir(settings: Settings) -> Path:
    return settings.models_dir or settings.data_dir / "models"


def path_of(settings: Settings, model_id: str) -> Path:
    return models_dir(settings) / check_id(model_id)


def incoming_dir(settings: Settings, model_id: str) -> Path:
    return models_dir(settings) / ".incoming" / check_id(model_id).replace("/", "--")


def _is_model(folder: Path) -> bool:
    return (
        (folder / MARKER).is_file()
        or (folder / "config.json").is_file()
        or any(child.suffix == ".gguf" for child in folder.iterdir())
    )


def model_dirs(settings: Settings) -> list[tuple[str, Path]]:
    root = models_dir(settings)
    if not root.is_dir():
        return []
    found = []
    for first in sorted(root.iterdir()):
        if not first.is_dir() or first.name.startswith("."):
            continue
        if _is_model(first):
            found.append((first.name, first))
            continue
        for second in sorted(first.iterdir()):
            if second.is_dir() and not second.name.startswith(".") and _is_model(second):
                found.append((f"{first.name}/{second.name}", second))
    return found


def safetensors_dtypes(path: Path) -> set[str]:
    """The tensor dtypes named in a safetensors header (8-byte length, then JSON)."""
    try:
        with path.open("rb") as handle:
            (length,) = struct.unpack("<Q", handle.read(8))
            if length > 100 * 1024 * 1024:
                return set()
            header = json.loads(handle.read(length))
    except (OSError, ValueError, struct.error):
        return set()
    return {
        str(entry["dtype"]).upper()
        for key, entry in header.items()
        if key != "__metadata__" and isinstance(entry, dict) and "dtype" in entry
    }


def gguf_type(name: str) -> str | None:
    upper = name.upper()
    return next((kind for kind in _GGUF_TYPES if f"{kind}." in upper or f"-{kind}" in upper
                 or f"_{kind}" in upper), None)  # fmt: skip


def _read_json(path: Path) -> dict[str, Any]:
    try:
        value = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def describe(model_id: str, folder: Path) -> dict[str, Any]:
    """A local model: size, formats, quantizations and dtypes from its files, config facts."""
    files = [path for path in folder.rglob("*") if path.is_file() and path.name != MARKER]
    meta = _read_json(folder / MARKER)
    config = _read_json(folder / "config.json")
    quantizations = sorted({kind for path in files if (kind := gguf_type(path.name))})
    dtypes = sorted({d for p in files if p.suffix == ".safetensors" for d in safetensors_dtypes(p)})
    quant_config = config.get("quantization_config") or {}
    if isinstance(quant_config, dict) and quant_config.get("quant_method"):
        quantizations.append(str(quant_config["quant_method"]).upper())
    formats = sorted({path.suffix.lstrip(".") for path in files if path.suffix in WEIGHT_SUFFIXES})
    return {
        "id": model_id,
        "name": model_id.rsplit("/", 1)[-1],
        "path": str(folder),
        "size_bytes": sum(path.stat().st_size for path in files),
        "formats": formats,
        "quantizations": quantizations,
        "dtypes": dtypes,
        "quantization": (quantizations or dtypes or [None])[0],
        "task": meta.get("task") or config.get("pipeline_tag"),
        "tags": meta.get("tags") or [],
        "architectures": config.get("architectures") or [],
        "context_window": config.get("max_position_embeddings"),
        "revision": meta.get("revision"),
        "downloaded_at": meta.get("downloaded_at"),
    }


def list_local(settings: Settings) -> list[dict[str, Any]]:
    return [describe(model_id, folder) for model_id, folder in model_dirs(settings)]


def find(settings: Settings, model_id: str) -> dict[str, Any] | None:
    folder = path_of(settings, model_id)
    if not folder.is_dir() or not _is_model(folder):
        return None
    return describe(model_id, folder)


def remove(settings: Settings, model_id: str) -> bool:
    folder = path_of(settings, model_id)
    if not folder.is_dir():
        return False
    shutil.rmtree(folder)
    parent = folder.parent
    if parent != models_dir(settings) and not any(parent.iterdir()):
        parent.rmdir()
    return True


def free_bytes(settings: Settings) -> int:
    root = models_dir(settings)
    root.mkdir(parents=True, exist_ok=True)
    return shutil.disk_usage(root).free
