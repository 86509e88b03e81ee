"""An uploaded model: a zip or tar archive of a model folder, or a single .safetensors or .gguf
file, checked before anything lands in the models directory: a known format, members without
absolute paths, `..` or links, an unpacked size within the upload limit, and no pickle-based
weights (`.bin`, `.pt`, ...) unless the registry's settings allow them."""

import json
import shutil
import struct
import tarfile
import uuid
import zipfile
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from atrium.config import Settings
from atrium.modelhub import local
from atrium.modelhub.errors import InvalidArchive, ModelExists

PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt")
SINGLE_SUFFIXES = (".safetensors", ".gguf")


def _member_path(name: str) -> PurePosixPath:
    path = PurePosixPath(name)
    if path.is_absolute() or name.startswith("\\") or ".." in path.parts or ":" in name:
        raise InvalidArchive(f"The archive member {name!r} points outside the model folder")
    return path


def _check_names(names: list[str], allow_pickle: bool) -> None:
    files = [_member_path(name) for name in names]
    pickles = [str(path) for path in files if path.suffix.lower() in PICKLE_SUFFIXES]
    if pickles and not allow_pickle:
        raise InvalidArchive(
            f"Pickle-based weights are refused unless an administrator allows them: {pickles[0]}"
        )
    weights = (*SINGLE_SUFFIXES, *PICKLE_SUFFIXES)
    if not any(p.name == "config.json" or p.suffix.lower() in weights for p in files):
        raise InvalidArchive("The archive holds no model: no config.json and no weight files")


def _check_single(handle: BinaryIO, suffix: str) -> None:
    head = handle.read(8)
    if suffix == ".gguf":
        ok = head[:4] == b"GGUF"
    else:
        ok = len(head) == 8 and _safetensors_header(handle, struct.unpack("<Q", head)[0])
    handle.seek(0)
    if not ok:
        raise InvalidArchive(f"The file is not a valid {suffix} file")


def _safetensors_header(handle: BinaryIO, length: int) -> bool:
    if length > 100 * 1024 * 1024:
        return False
    try:
        return isinstance(json.loads(handle.read(length)), dict)
    except ValueError:
        return False


def _extract_zip(handle: BinaryIO, target: Path, limit: int, allow_pickle: bool) -> None:
    with zipfile.ZipFile(handle) as archive:
        members = [info for info in archive.infolist() if not info.is_dir()]
        if sum(info.file_size for info in members) > limit:
            raise InvalidArchive("The archive unpacks to more than the upload limit")
        _check_names([info.filename for info in members], allow_pickle)
        for info in members:
            if (info.external_attr >> 16) & 0o170000 == 0o120000:
                raise InvalidArchive(f"The archive member {info.filename!r} is a link")
        for info in members:
            destination = target / _member_path(info.filename)
            destination.parent.mkdir(parents=True, exist_ok=True)
            with archive.open(info) as source, destination.open("wb") as sink:
                shutil.copyfileobj(source, sink)


def _extract_tar(handle: BinaryIO, target: Path, limit: int, allow_pickle: bool) -> None:
    with tarfile.open(fileobj=handle) as archive:
        members = [member for member in archive.getmembers() if not member.isdir()]
        for member in members:
            if not member.isfile():
                raise InvalidArchive(f"The archive member {member.name!r} is not a plain file")
        if sum(member.size for member in members) > limit:
            raise InvalidArchive("The archive unpacks to more than the upload limit")
        _check_names([member.name for member in members], allow_pickle)
        archive.extractall(target, members=members, filter="data")


def install(
    settings: Settings, model_id: str, filename: str, handle: BinaryIO, allow_pickle: bool
) -> Path:
    """Validate and unpack the upload into `.incoming/`, then move it into place whole."""
    final = local.path_of(settings, model_id)
    if final.exists():
        raise ModelExists()
    name = PurePosixPath(filename.replace("\\", "/")).name.lower()
    staging = local.models_dir(settings) / ".incoming" / f"upload-{uuid.uuid4().hex}"
    staging.mkdir(parents=True)
    try:
        _unpack(settings, name, handle, staging, allow_pickle)
        final.parent.mkdir(parents=True, exist_ok=True)
        staging.rename(final)
    finally:
        if staging.exists():
            shutil.rmtree(staging)
    return final


def _unpack(settings: Settings, name: str, handle: BinaryIO, staging: Path, pickle: bool) -> None:
    limit = settings.max_upload_bytes
    suffix = PurePosixPath(name).suffix
    if suffix in SINGLE_SUFFIXES:
        _check_single(handle, suffix)
        with (staging / name).open("wb") as sink:
            shutil.copyfileobj(handle, sink)
    elif zipfile.is_zipfile(handle):
        handle.seek(0)
        _extract_zip(handle, staging, limit, pickle)
    else:
        handle.seek(0)
        try:
            _extract_tar(handle, staging, limit, pickle)
        except tarfile.TarError:
            raise InvalidArchive(
                "Upload a .zip or .tar(.gz) archive of a model folder, or a .safetensors or "
                ".gguf file"
            ) from None
