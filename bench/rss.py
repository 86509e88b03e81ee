"""Peak resident memory of a server process (and its children) while a scenario runs."""

import threading
from pathlib import Path
from types import TracebackType
from typing import Self

import psutil

MIB = 1024 * 1024


class RssSampler:
    """Samples a process tree's RSS in a thread; `peak_growth_bytes` is peak minus start.

    On Linux the kernel's high-water mark (VmHWM) is reset at start and read at stop, so a
    spike shorter than the sampling interval is still counted for the main process.
    """

    def __init__(self, pid: int, interval_s: float = 0.01) -> None:
        self.pid = pid
        self.interval_s = interval_s
        self.baseline_bytes = 0
        self.peak_bytes = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample_until_stopped, daemon=True)
        self._hwm_reset = False

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def peak_growth_bytes(self) -> int:
        return max(0, self.peak_bytes - self.baseline_bytes)

    @property
    def peak_growth_mib(self) -> float:
        return self.peak_growth_bytes / MIB

    def start(self) -> None:
        self.baseline_bytes = tree_rss_bytes(self.pid)
        self.peak_bytes = self.baseline_bytes
        self._hwm_reset = reset_high_water_mark(self.pid)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()
        self._record(tree_rss_bytes(self.pid))
        if self._hwm_reset:
            self._record(high_water_mark_bytes(self.pid) + children_rss_bytes(self.pid))

    def _sample_until_stopped(self) -> None:
        while not self._stop.wait(self.interval_s):
            self._record(tree_rss_bytes(self.pid))

    def _record(self, rss_bytes: int) -> None:
        self.peak_bytes = max(self.peak_bytes, rss_bytes)


def tree_rss_bytes(pid: int) -> int:
    try:
        return psutil.Process(pid).memory_info().rss + children_rss_bytes(pid)
    except psutil.Error:
        return 0


def children_rss_bytes(pid: int) -> int:
    total = 0
    try:
        children = psutil.Process(pid).children(recursive=True)
    except psutil.Error:
        return 0
    for child in children:
        try:
            total += child.memory_info().rss
        except psutil.Error:
            continue
    return total


def reset_high_water_mark(pid: int) -> bool:
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def high_water_mark_bytes(pid: int) -> int:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    for line in status.splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return 0
