"""Audit engine throughput, and ScanCode Toolkit's license scan side by side on one sample.

    python -m bench.audits                      # the interpreter's site-packages as the corpus
    python -m bench.audits --corpus DIR --sample 1000 --processes 2

1. Atrium's full audit (inventory, licenses, copyrights, manifests, secrets) over the whole
   corpus (at least 10,000 files): files per second.
2. A fixed sample of the corpus (seeded, `--sample` files) copied to a scratch directory; Atrium
   and `scancode -l` (same number of processes) each scan it; files per second for both.
3. Agreement per (file, SPDX license key): of the keys ScanCode reports for a file with a match
   score >= 90, leaving out its non-SPDX catch-alls (`unknown*`, `other-*`, `free-unknown`,
   `*-reference`), the share Atrium also reports for that file.

ScanCode runs from its own virtual environment (it pins old libraries):
`python -m venv .venv-scancode && .venv-scancode/bin/pip install scancode-toolkit pluggy==1.5.0`
(pluggy 1.6 and later do not find ScanCode's plugin hooks).

`--scancode-json PATH` keeps ScanCode's result: the first run writes it, later runs on the same
sample (same files) reuse it and its timing, so that Atrium's side can be iterated on in seconds.
Reported figures come from runs without it (`"scancode": {"reused": false}`).
"""

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import time
from collections import Counter
from pathlib import Path

from atrium.audits.engine import audit
from atrium.audits.engine import licenses as lic

MIN_CORPUS = 10_000
SCORE_FLOOR = 90.0
DEFAULT_SCANCODE = Path(__file__).resolve().parent.parent / ".venv-scancode" / "bin" / "scancode"
RESULTS = Path(__file__).resolve().parent / "results" / "audits.json"


def corpus_files(root: Path) -> list[str]:
    files = []
    for current, dirs, names in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        for name in sorted(names):
            path = os.path.join(current, name)
            if not name.endswith(".pyc") and os.path.isfile(path) and not os.path.islink(path):
                files.append(os.path.relpath(path, root))
    return files


def make_sample(root: Path, files: list[str], size: int, seed: int, dest: Path) -> list[str]:
    chosen = sorted(random.Random(seed).sample(files, size))
    for rel in chosen:
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(root / rel, target)
    return chosen


def _is_catch_all(scancode_key: str) -> bool:
    return (
        scancode_key.startswith(("unknown", "other-"))
        or scancode_key == "free-unknown"
        or scancode_key.endswith("-reference")
    )


def scancode_pairs(report: dict) -> set[tuple[str, str]]:
    """(file, SPDX key) for each ScanCode match scored >= 90, catch-alls left out."""
    pairs: set[tuple[str, str]] = set()
    for entry in report.get("files", []):
        if entry.get("type") != "file":
            continue
        path = entry["path"].split("/", 1)[1] if "/" in entry["path"] else entry["path"]
        for detection in entry.get("license_detections") or []:
            for match in detection.get("matches") or []:
                if float(match.get("score") or 0) < SCORE_FLOOR:
                    continue
                keys = lic.license_keys(match.get("license_expression") or "")
                spdx = lic.license_keys(match.get("license_expression_spdx") or "")
                if len(keys) != len(spdx):
                    keys = [match.get("license_expression") or ""] * len(spdx)
                for key, spdx_key in zip(keys, spdx, strict=True):
                    if not _is_catch_all(key):
                        pairs.add((path, _canonical(spdx_key)))
    return pairs


def _canonical(key: str) -> str:
    # deprecated SPDX ids name the same licenses as their -only forms
    if key in ("GPL-2.0", "GPL-3.0", "LGPL-2.1", "LGPL-3.0", "AGPL-3.0", "LGPL-2.0"):
        return f"{key}-only"
    if key.endswith("+"):
        return key[:-1] + "-or-later"
    return key


def atrium_pairs(result: dict) -> set[tuple[str, str]]:
    pairs = set()
    for record in result["files"]:
        for expression in record["licenses"]:
            for key in lic.license_keys(expression):
                pairs.add((record["path"], _canonical(key)))
    return pairs


def run_scancode(binary: Path, sample: Path, processes: int, out: Path) -> tuple[float, float]:
    """(wall seconds, ScanCode's own reported scan duration)."""
    started = time.perf_counter()
    subprocess.run(
        [str(binary), "-l", "--json", str(out), "-n", str(processes), "--quiet", str(sample)],
        check=True,
        capture_output=True,
    )
    wall = time.perf_counter() - started
    report = json.loads(out.read_text())
    header = (report.get("headers") or [{}])[0]
    # kept with the result, so that a reused result reports the wall time it was measured with
    header.setdefault("extra_data", {})["bench_wall_seconds"] = wall
    out.write_text(json.dumps(report))
    return wall, float(header.get("duration") or wall)


def saved_scancode(saved: Path, chosen: list[str]) -> tuple[float, float] | None:
    """The timing of a saved ScanCode result for exactly these files, or None."""
    if not saved.exists():
        return None
    report = json.loads(saved.read_text())
    paths = {
        entry["path"].split("/", 1)[1]
        for entry in report.get("files", [])
        if entry.get("type") == "file" and "/" in entry["path"]
    }
    if paths != set(chosen):
        return None
    header = (report.get("headers") or [{}])[0]
    scan = float(header.get("duration") or 0)
    return float(header.get("extra_data", {}).get("bench_wall_seconds") or scan), scan


def say(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", type=Path, default=Path(sysconfig.get_paths()["purelib"]))
    parser.add_argument("--sample", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=20)
    parser.add_argument("--processes", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--scancode", type=Path, default=DEFAULT_SCANCODE)
    parser.add_argument("--skip-corpus", action="store_true", help="Only the sample comparison.")
    parser.add_argument(
        "--scancode-json",
        type=Path,
        help="ScanCode's result to reuse when it covers the same sample, else where to save it.",
    )
    args = parser.parse_args()

    files = corpus_files(args.corpus)
    if len(files) < MIN_CORPUS:
        print(f"the corpus has {len(files)} files; at least {MIN_CORPUS} are needed")
        return 2
    figures: dict = {"corpus": str(args.corpus), "processes": args.processes}
    if not args.skip_corpus:
        say(f"Atrium on the corpus ({len(files)} files)")
        started = time.perf_counter()
        full = audit(args.corpus, workers=args.processes, with_history=False)
        full_seconds = time.perf_counter() - started
        figures["corpus_files"] = full["summary"]["files"]
        figures["atrium_corpus_seconds"] = round(full_seconds, 2)
        figures["atrium_corpus_files_per_second"] = round(
            full["summary"]["files"] / full_seconds, 1
        )
    with tempfile.TemporaryDirectory(prefix="bench-audits-") as scratch:
        sample_dir = Path(scratch) / "sample"
        chosen = make_sample(args.corpus, files, args.sample, args.seed, sample_dir)
        say(f"Atrium on the sample ({args.sample} files)")
        started = time.perf_counter()
        ours = audit(sample_dir, workers=args.processes, with_history=False)
        our_seconds = time.perf_counter() - started
        figures["sample_files"] = ours["summary"]["files"]
        figures["atrium_sample_seconds"] = round(our_seconds, 2)
        figures["atrium_sample_files_per_second"] = round(args.sample / our_seconds, 1)
        out = args.scancode_json or RESULTS.parent / "scancode-sample.json"
        reused = saved_scancode(out, chosen) if args.scancode_json else None
        if reused is None and not args.scancode.exists():
            figures["scancode"] = {"available": False, "reason": f"{args.scancode} not found"}
        else:
            if reused:
                say(f"ScanCode's saved result {out}")
                wall, scan = reused
            else:
                out.parent.mkdir(parents=True, exist_ok=True)
                say("ScanCode on the sample")
                wall, scan = run_scancode(args.scancode, sample_dir, args.processes, out)
            theirs = scancode_pairs(json.loads(out.read_text()))
            mine = atrium_pairs(ours)
            agreed = theirs & mine
            missed = Counter(key for _path, key in theirs - mine)
            figures["scancode"] = {
                "available": True,
                "reused": reused is not None,
                "wall_seconds": round(wall, 2),
                "scan_seconds": round(scan, 2),
                "files_per_second_wall": round(args.sample / wall, 2),
                "files_per_second_scan": round(args.sample / scan, 2),
            }
            figures["speedup_vs_scan"] = round(our_seconds and scan / our_seconds, 1)
            figures["speedup_vs_wall"] = round(our_seconds and wall / our_seconds, 1)
            figures["agreement"] = {
                "scancode_pairs": len(theirs),
                "atrium_also": len(agreed),
                "share": round(len(agreed) / len(theirs), 4) if theirs else None,
                "atrium_extra_pairs": len(mine - theirs),
                "most_missed": missed.most_common(10),
                "most_extra": Counter(key for _path, key in mine - theirs).most_common(10),
            }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(figures, indent=2))
    print(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
