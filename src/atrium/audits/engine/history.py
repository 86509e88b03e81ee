"""Contributors and ownership from git history, through the git binary.

Commits per author come from one `git log`; ownership is the share of surviving lines each
author wrote, from `git blame --line-porcelain` on tracked text files (the largest first, up to
a bound, so that a huge repository still finishes; the report says how many were blamed).
"""

import os
import subprocess
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

GIT_TIMEOUT = 120
MAX_BLAME_FILES = 400
_ENV = {
    **os.environ,
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_TERMINAL_PROMPT": "0",
    "LC_ALL": "C",
}


def _git(root: Path, *args: str, timeout: float = GIT_TIMEOUT) -> str:
    result = subprocess.run(
        ["git", "-c", f"safe.directory={root}", "-C", str(root), *args],
        capture_output=True,
        timeout=timeout,
        env=_ENV,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(result.stderr.decode("utf-8", "replace").strip()[:300])
    return result.stdout.decode("utf-8", "replace")


def is_repository(root: Path) -> bool:
    try:
        return _git(root, "rev-parse", "--is-inside-work-tree", timeout=15).strip() == "true"
    except (RuntimeError, OSError, subprocess.TimeoutExpired):
        return False


def _authors(root: Path) -> tuple[dict[str, dict[str, Any]], int]:
    log = _git(root, "log", "--no-merges", "--format=%aE%x09%aN%x09%at", "HEAD")
    people: dict[str, dict[str, Any]] = {}
    total = 0
    for line in log.splitlines():
        email, _, rest = line.partition("\t")
        name, _, stamp = rest.partition("\t")
        key = email.lower() or name
        person = people.setdefault(
            key, {"name": name, "email": email, "commits": 0, "first_commit": None}
        )
        person["commits"] += 1
        person["last_commit"] = person.get("last_commit") or int(stamp or 0)
        person["first_commit"] = int(stamp or 0)
        total += 1
    return people, total


def _blame(root: Path, path: str) -> Counter[str]:
    owners: Counter[str] = Counter()
    try:
        out = _git(root, "blame", "--line-porcelain", "-w", "HEAD", "--", path)
    except (RuntimeError, subprocess.TimeoutExpired):
        return owners
    for line in out.splitlines():
        if line.startswith("author-mail "):
            owners[line[len("author-mail ") :].strip("<>").lower()] += 1
    return owners


def analyse(root: Path, text_files: dict[str, int]) -> dict[str, Any]:
    """`text_files`: path -> size of the text files in the inventory."""
    if not is_repository(root):
        return {"available": False, "reason": "not a git repository"}
    try:
        people, total_commits = _authors(root)
        tracked = set(_git(root, "ls-files", "-z").split("\0"))
    except (RuntimeError, subprocess.TimeoutExpired) as exc:
        return {"available": False, "reason": f"git history unreadable: {exc}"}
    candidates = sorted(
        (p for p in text_files if p in tracked), key=lambda p: text_files[p], reverse=True
    )
    blamed = candidates[:MAX_BLAME_FILES]
    lines_by_author: Counter[str] = Counter()
    file_owner: dict[str, str] = {}
    files_by_owner: defaultdict[str, int] = defaultdict(int)
    for path in blamed:
        owners = _blame(root, path)
        if owners:
            lines_by_author.update(owners)
            top = owners.most_common(1)[0][0]
            file_owner[path] = top
            files_by_owner[top] += 1
    total_lines = sum(lines_by_author.values()) or 1
    contributors = []
    for key, person in people.items():
        lines = lines_by_author.get(key, 0)
        contributors.append(
            {
                **person,
                "lines": lines,
                "share": round(lines / total_lines, 4),
                "files_owned": files_by_owner.get(key, 0),
            }
        )
    contributors.sort(key=lambda c: (-c["lines"], -c["commits"], c["email"]))
    names = {key: person["name"] for key, person in people.items()}
    return {
        "available": True,
        "commits": total_commits,
        "contributors": contributors,
        "files_blamed": len(blamed),
        "files_tracked": len(tracked - {""}),
        "owners": {path: names.get(owner, owner) for path, owner in file_owner.items()},
    }
