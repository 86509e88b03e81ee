"""A process's CPU time from /proc/<pid>/stat (user + system, every thread), for CPU µs per
request: on a shared machine the binding figure, since other load moves requests/s but not
the CPU a request costs."""

import os

TICKS_PER_SECOND = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat", "rb") as handle:
        stat = handle.read()
    # the command name (field 2) may hold spaces; fields after its closing parenthesis
    fields = stat[stat.rindex(b")") + 2 :].split()
    utime, stime = int(fields[11]), int(fields[12])  # fields 14 and 15 of proc(5)
    return (utime + stime) / TICKS_PER_SECOND


class CpuMeter:
    """CPU seconds a process used between `start()` and `stop()`; None when not measurable."""

    def __init__(self, pid: int | None) -> None:
        self.pid = pid
        self.started: float | None = None
        self.used: float | None = None

    def start(self) -> None:
        self.started = self._read()

    def stop(self) -> None:
        ended = self._read()
        if self.started is not None and ended is not None:
            self.used = ended - self.started

    def _read(self) -> float | None:
        if self.pid is None:
            return None
        try:
            return cpu_seconds(self.pid)
        except (OSError, ValueError, IndexError):
            return None

    def micros_per(self, requests: int) -> float | None:
        if self.used is None or requests <= 0:
            return None
        return self.used * 1e6 / requests
