"""Where an audit's files come from: a git URL (cloned with a timeout and a size cap, to public
addresses only unless allowed), a local directory under an administrator's roots, or an
uploaded archive (extracted with limits on size, file count and compression ratio, refusing
traversal and links). Everything is written inside the audit's own working directory."""

import asyncio
import contextlib
import os
import re
import shutil
import stat
import tarfile
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from urllib.parse import urlsplit

from atrium.security import ssrf

GIT_SCHEMES = ("http", "https", "ssh")
_SCP_LIKE = re.compile(r"^(?P<user>[A-Za-z0-9._-]+)@(?P<host>[A-Za-z0-9.-]+):(?P<path>[^\s]+)$")
_BRANCH = re.compile(r"^(?!-)(?!.*\.\.)[A-Za-z0-9._/+-]{1,200}$")
SIZE_POLL_SECONDS = 0.5
COPY_CHUNK = 1024 * 1024


class SourceError(Exception):
    """A readable reason why the source cannot be audited."""


@dataclass(frozen=True, slots=True)
class GitTarget:
    url: str
    host: str
    port: int
    scheme: str


def parse_git_url(raw: str) -> GitTarget:
    """http(s) and ssh git URLs (and scp-like `user@host:path`); anything else is refused."""
    url = raw.strip()
    if any(char.isspace() for char in url) or not url:
        raise SourceError("The repository URL must not be empty or contain spaces.")
    scp = _SCP_LIKE.match(url)
    if scp and "://" not in url:
        return GitTarget(url=url, host=scp.group("host"), port=22, scheme="ssh")
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in GIT_SCHEMES:
        raise SourceError(
            f"Only http(s) and ssh git URLs can be audited (got {parts.scheme or 'no'} scheme)."
        )
    if not parts.hostname:
        raise SourceError("The repository URL has no host name.")
    if scheme != "ssh" and (parts.username or parts.password):
        raise SourceError("Put no credentials in the repository URL.")
    try:
        port = parts.port or {"http": 80, "https": 443, "ssh": 22}[scheme]
    except ValueError as exc:
        raise SourceError("The repository URL has an invalid port.") from exc
    return GitTarget(url=url, host=parts.hostname, port=port, scheme=scheme)


def check_branch(branch: str | None) -> str | None:
    if branch is None or branch == "":
        return None
    if not _BRANCH.match(branch):
        raise SourceError(f"{branch!r} is not a valid branch name.")
    return branch


async def check_reachable_address(target: GitTarget, *, allow_private: bool) -> tuple[str, ...]:
    """The host's addresses, all public unless private ones are allowed."""
    try:
        addresses = await ssrf.resolve(target.host, target.port)
        if not allow_private:
            ssrf.check_addresses(target.host, addresses)
    except ssrf.BlockedAddress as exc:
        message = str(exc).replace("point a provider at", "audit a repository on")
        raise SourceError(message) from exc
    return addresses


def resolve_local(path: str, roots: list[str]) -> Path:
    """A directory inside one of the configured roots (after resolving links)."""
    if not roots:
        raise SourceError("Local paths cannot be audited: no audit roots are configured.")
    candidate = Path(path).expanduser()
    if not candidate.is_absolute():
        raise SourceError("A local path must be absolute.")
    resolved = candidate.resolve()
    for root in roots:
        base = Path(root).resolve()
        if resolved == base or base in resolved.parents:
            if not resolved.is_dir():
                raise SourceError(f"{path} is not a directory.")
            return resolved
    raise SourceError(f"{path} is not under an audit root.")


def _git_env(home: Path) -> dict[str, str]:
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_TERMINAL_PROMPT": "0",
        "GIT_ASKPASS": "/bin/false",
        "SSH_ASKPASS": "/bin/false",
        "GIT_SSH_COMMAND": "ssh -o BatchMode=yes -o StrictHostKeyChecking=accept-new "
        f"-o UserKnownHostsFile={home / 'known_hosts'} -o ConnectTimeout=20",
        "LC_ALL": "C",
    }


def _tree_size(path: Path) -> int:
    total = 0
    for current, _dirs, files in os.walk(path):
        for name in files:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(current, name)).st_size
    return total


async def clone(
    target: GitTarget,
    branch: str | None,
    dest: Path,
    *,
    addresses: tuple[str, ...],
    timeout: float,  # noqa: ASYNC109 - a deadline for the whole clone, checked while polling
    max_bytes: int,
) -> None:
    """`git clone` into dest, killed past the timeout or the size cap."""
    home = dest.parent / "git-home"
    home.mkdir(parents=True, exist_ok=True)
    pin = []
    if target.scheme in ("http", "https") and addresses:
        # connect to the very addresses that were checked (no DNS rebinding in between)
        pin = ["-c", f"http.curloptResolve={target.host}:{target.port}:{','.join(addresses)}"]
    command = [
        "git",
        "-c", "protocol.allow=never",
        "-c", "protocol.http.allow=always",
        "-c", "protocol.https.allow=always",
        "-c", "protocol.ssh.allow=always",
        "-c", "http.followRedirects=false",
        "-c", "core.symlinks=false",
        "-c", "submodule.recurse=false",
        *pin,
        "clone", "--quiet", "--no-tags", "--template=", "--no-recurse-submodules",
    ]  # fmt: skip
    if branch:
        command += ["--branch", branch, "--single-branch"]
    command += ["--", target.url, str(dest)]
    process = await asyncio.create_subprocess_exec(
        *command,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
        env=_git_env(home),
        cwd=str(dest.parent),
    )
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    try:
        while True:
            try:
                await asyncio.wait_for(process.wait(), SIZE_POLL_SECONDS)
                break
            except TimeoutError:
                pass
            if loop.time() > deadline:
                raise SourceError(f"Cloning took longer than {int(timeout)} seconds.")
            if await asyncio.to_thread(_tree_size, dest) > max_bytes:
                raise SourceError(f"The repository is larger than the limit of {max_bytes} bytes")
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    if process.returncode != 0:
        stderr = (await process.stderr.read()).decode("utf-8", "replace") if process.stderr else ""
        reason = stderr.strip().splitlines()[-1] if stderr.strip() else "git clone failed"
        raise SourceError(f"Could not clone {target.url}: {reason[:300]}")
    if await asyncio.to_thread(_tree_size, dest) > max_bytes:
        raise SourceError(f"The repository is larger than the limit of {max_bytes} bytes.")


@dataclass(frozen=True, slots=True)
class ArchiveLimits:
    max_bytes: int
    max_files: int
    max_ratio: float


def _safe_member_path(dest: Path, name: str) -> Path | None:
    """Where a member goes inside dest; None for a directory entry; refuses traversal."""
    cleaned = name.replace("\\", "/")
    pure = PurePosixPath(cleaned)
    if pure.is_absolute() or cleaned.startswith("/") or re.match(r"^[A-Za-z]:", cleaned):
        raise SourceError(f"The archive entry {name!r} has an absolute path.")
    if any(part == ".." for part in pure.parts):
        raise SourceError(f"The archive entry {name!r} points outside the archive.")
    parts = [p for p in pure.parts if p not in ("", ".")]
    if not parts:
        return None
    target = dest.joinpath(*parts)
    if dest not in target.parents:
        raise SourceError(f"The archive entry {name!r} points outside the archive.")
    return target


class _Budget:
    def __init__(self, limits: ArchiveLimits, archive_size: int) -> None:
        self.limits = limits
        self.max_total = min(limits.max_bytes, int(max(archive_size, 1) * limits.max_ratio))
        self.total = 0
        self.files = 0

    def add_file(self) -> None:
        self.files += 1
        if self.files > self.limits.max_files:
            raise SourceError(f"The archive has more than {self.limits.max_files} files.")

    def add_bytes(self, count: int) -> None:
        self.total += count
        if self.total > self.max_total:
            raise SourceError(
                "The archive expands beyond its limit "
                f"({self.max_total} bytes, at most {self.limits.max_ratio:g}x its size): "
                "refused as a possible archive bomb."
            )


def _copy(source, target: Path, budget: _Budget) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target, "wb") as out:
        while chunk := source.read(COPY_CHUNK):
            budget.add_bytes(len(chunk))
            out.write(chunk)


def _extract_zip(archive: Path, dest: Path, budget: _Budget) -> None:
    with zipfile.ZipFile(archive) as bundle:
        for info in bundle.infolist():
            target = _safe_member_path(dest, info.filename)
            mode = info.external_attr >> 16
            if stat.S_ISLNK(mode):
                raise SourceError(
                    f"The archive entry {info.filename!r} is a link; links are refused"
                )
            if target is None or info.is_dir():
                continue
            budget.add_file()
            with bundle.open(info) as source:
                _copy(source, target, budget)


def _extract_tar(archive: Path, dest: Path, budget: _Budget) -> None:
    with tarfile.open(archive, mode="r:*") as bundle:
        for member in bundle:
            target = _safe_member_path(dest, member.name)
            if member.issym() or member.islnk():
                raise SourceError(f"The archive entry {member.name!r} is a link; links are refused")
            if target is None or member.isdir():
                continue
            if not member.isfile():
                raise SourceError(f"The archive entry {member.name!r} is not a regular file.")
            budget.add_file()
            source = bundle.extractfile(member)
            if source is not None:
                with source:
                    _copy(source, target, budget)


def extract(archive: Path, dest: Path, limits: ArchiveLimits) -> None:
    """Extract a zip or tar(.gz) archive into dest, or raise SourceError (dest is left for
    the caller to remove)."""
    dest.mkdir(parents=True, exist_ok=True)
    dest = dest.resolve()
    budget = _Budget(limits, archive.stat().st_size)
    with open(archive, "rb") as handle:
        magic = handle.read(4)
    try:
        if magic.startswith(b"PK") or zipfile.is_zipfile(archive):
            _extract_zip(archive, dest, budget)
        elif magic.startswith(b"\x1f\x8b") or tarfile.is_tarfile(archive):
            _extract_tar(archive, dest, budget)
        else:
            raise SourceError("The upload is not a zip or tar.gz archive.")
    except SourceError:
        raise
    except (zipfile.BadZipFile, tarfile.TarError, EOFError, OSError, ValueError) as exc:
        raise SourceError(f"The archive is corrupt: {exc}") from exc
    except Exception as exc:  # zlib.error and the like from a damaged stream
        raise SourceError(f"The archive is corrupt: {type(exc).__name__}: {exc}") from exc


def remove_tree(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)
