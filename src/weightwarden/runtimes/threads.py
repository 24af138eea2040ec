"""How many CPU threads llama.cpp gets for its next call, chosen from how busy the machine is now.

llama.cpp's worker threads spin at every barrier between operations. When a call asks for as many threads as there
are cores and another process keeps one core busy, the descheduled thread holds up all the others at every barrier,
and a step takes several times longer (measured here: 0.2x of the quiet speed with one competing process). So by
default each call uses the cores that other work left free since the previous look. Other work is the CPU time of
the cores this process may run on (/proc/stat), less this process's own CPU time, plus the CPU time of this
process's other Python threads (a gateway's event loop answering a flood of requests competes like another
process), except threads at a lower priority than the process (the idle scheduling class or a higher nice value,
such as the gateway's sketch worker): they yield a core within a time slice, as niced processes do. llama.cpp's own
workers (OpenMP threads, which Python does not know) never count. A fixed count (the `threads` setting) turns the
choice off.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

MIN_INTERVAL = 0.25  # seconds between two looks; a shorter interval reuses the last choice (jiffies are 10 ms)


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity), not every core of the host."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except (AttributeError, OSError):
        return os.cpu_count() or 1


@dataclass(frozen=True)
class CpuSample:
    """Busy CPU seconds of some cores, of this process, and of each of its live threads, at one moment."""

    at: float
    busy: float | None  # None where /proc/stat cannot be read (not Linux): then no choice is made
    own: float
    threads: dict[int, float]  # native thread id -> CPU seconds, for this process's live Python threads


def _busy_seconds(cpus: frozenset[int]) -> float | None:
    """CPU seconds spent not idle on `cpus` since boot, from /proc/stat (user, system, irq, softirq, steal).

    Time of niced processes counts only when this process is niced too: background work at a lower priority
    yields its core to us within a time slice, so it does not stall llama.cpp's barriers.
    """
    try:
        with open("/proc/stat", encoding="ascii") as f:
            lines = f.read().splitlines()
    except OSError:
        return None
    hz = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    niced = os.nice(0) > 0
    total = 0
    for line in lines:
        if not line.startswith("cpu") or line.startswith("cpu "):
            continue
        name, *fields = line.split()
        if int(name[3:]) not in cpus or len(fields) < 8:
            continue
        user, nice, system, _idle, _iowait, irq, softirq, steal = (int(x) for x in fields[:8])
        total += user + (nice if niced else 0) + system + irq + softirq + steal
    return total / hz


SCHED_IDLE = 5  # the idle scheduling class's number in /proc/<pid>/task/<tid>/stat (field 41)


def _thread_seconds() -> dict[int, float]:
    """CPU seconds of each live Python thread of this process that runs at the process's priority, from
    /proc/self/task (empty elsewhere); threads in the idle class or niced below the process are left out."""
    out: dict[int, float] = {}
    hz = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    try:
        process_nice = os.getpriority(os.PRIO_PROCESS, os.getpid())  # the main thread's, on Linux
    except (AttributeError, OSError):
        process_nice = 0
    for thread in threading.enumerate():
        name = thread.native_id
        if name is None:
            continue
        try:
            with open(f"/proc/self/task/{name}/stat", encoding="ascii", errors="replace") as f:
                fields = f.read().rpartition(")")[2].split()
        except OSError:
            continue  # the thread ended while we looked
        if len(fields) > 38 and (int(fields[16]) > process_nice or int(fields[38]) == SCHED_IDLE):
            continue  # nice (field 19) and policy (field 41): a background thread that yields its core
        if len(fields) > 12:
            out[int(name)] = (int(fields[11]) + int(fields[12])) / hz  # utime, stime
    return out


def sample(cpus: frozenset[int]) -> CpuSample:
    t = os.times()
    return CpuSample(time.monotonic(), _busy_seconds(cpus), t.user + t.system, _thread_seconds())


class ThreadChooser:
    """The thread count for each llama.cpp call: `fixed` when given, else the cores others left free.

    Safe to call from several threads; it keeps its own state (no module-level cache).
    """

    def __init__(
        self, fixed: int = 0, cores: int | None = None, sampler: Callable[[frozenset[int]], CpuSample] | None = None
    ) -> None:
        if fixed < 0:
            raise ValueError("threads must be 0 (choose per call) or a positive number")
        self.fixed = fixed
        self.cores = cores or usable_cores()
        try:
            self._cpus = frozenset(os.sched_getaffinity(0))
        except (AttributeError, OSError):
            self._cpus = frozenset(range(self.cores))
        self._sample = sampler or sample
        self._lock = threading.Lock()
        self._last = self._sample(self._cpus)
        self._choice = fixed or self.cores
        self.others = 0.0  # cores other processes kept busy over the last interval, as last measured

    @property
    def adaptive(self) -> bool:
        return self.fixed == 0

    def choose(self) -> int:
        """The number of threads for the call about to start."""
        if self.fixed:
            return self.fixed
        with self._lock:
            if time.monotonic() - self._last.at < MIN_INTERVAL:
                return self._choice  # looked moments ago: reading /proc costs more than it could tell
            now = self._sample(self._cpus)
            span = now.at - self._last.at
            if span < MIN_INTERVAL or now.busy is None or self._last.busy is None:
                return self._choice
            elsewhere = max(0.0, (now.busy - self._last.busy) - (now.own - self._last.own))
            caller = threading.get_native_id()  # the thread about to run llama.cpp: its own work is not competition
            ours = sum(
                max(0.0, cpu - self._last.threads.get(tid, 0.0)) for tid, cpu in now.threads.items() if tid != caller
            )
            others = (elsewhere + ours) / span
            self._last, self.others = now, others
            # A core counts as taken when others used most of it; light background work leaves every core to us.
            self._choice = max(1, min(self.cores, self.cores - int(others + 0.35)))
            return self._choice

    def describe(self) -> str:
        return f"{self.fixed} (fixed)" if self.fixed else f"up to {self.cores}, chosen per call from the load"
