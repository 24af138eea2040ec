"""Progress of long work, on stderr, that suits where stderr goes.

In a terminal: a rich progress bar with done/total, elapsed time and ETA. Elsewhere (a CI log, `make demo` under a
pipe): one line when a stage starts, then at most one line every `interval` seconds with done/total and ETA, or the
time spent so far when the work has no count. `--quiet` silences both.

    with Reporter("eval", quiet=quiet) as report:
        run_eval(..., progress=lambda done, total, task: report.update(done, total, stage=task))
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from types import TracebackType

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from weightwarden.cli.output import err_console

INTERVAL = 10.0  # seconds between two lines in a log


def duration(seconds: float) -> str:
    """3s, 2m05s, 1h02m."""
    s = round(seconds)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{s % 3600 // 60:02d}m"


def _size(n: float) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} GB"


class Reporter:
    """Shows progress of one job made of stages; update() and stage() are safe to call from any thread.

    label: what the job is ("eval", "audit"); in_bytes: done/total count bytes (hashing); interval: seconds between
    log lines; after: seconds a job runs before its first log line (a quick job, like hashing a small file, says
    nothing); console: where to write (stderr by default); clock: for tests.
    """

    def __init__(
        self,
        label: str,
        *,
        quiet: bool = False,
        in_bytes: bool = False,
        interval: float = INTERVAL,
        after: float = 0.0,
        console: Console | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.label = label
        self.quiet = quiet
        self.in_bytes = in_bytes
        self.interval = interval
        self.after = after
        self.console = console or err_console
        self.clock = clock
        self._lock = threading.Lock()
        self._stage = ""
        self._done = 0
        self._total: int | None = None
        self._start = self._stage_start = self._last_line = clock()
        self._base = (self._start, 0)  # (when, done) the current count started: the ETA's rate is measured from it
        self._printed = False
        self._bar: Progress | None = None
        self._task: object = None
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None

    @property
    def live(self) -> bool:
        """True when a progress bar is drawn (stderr is a terminal and not quiet)."""
        return self._bar is not None

    def __enter__(self) -> Reporter:
        if self.quiet:
            return self
        if self.console.is_terminal:
            counts = DownloadColumn() if self.in_bytes else MofNCompleteColumn()
            self._bar = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                counts,
                TimeElapsedColumn(),
                TextColumn("ETA"),
                TimeRemainingColumn(),
                console=self.console,
                transient=True,
            )
            self._bar.start()
            self._task = self._bar.add_task(self.label, total=None)
        else:
            self._ticker = threading.Thread(target=self._tick, name="warden-progress", daemon=True)
            self._ticker.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self._stop.set()
        if self._ticker is not None:
            self._ticker.join(timeout=1)
            if self._printed and kind is None:  # a log that said it started says it finished
                spent = duration(self.clock() - self._start)
                self.console.print(f"{self.label}: finished in {spent}", highlight=False, markup=False, soft_wrap=True)
        if self._bar is not None:
            self._bar.stop()

    def stage(self, name: str, total: int | None = None) -> None:
        """A new stage starts: in a log, one line now."""
        self.update(0, total, stage=name)

    def update(self, done: int, total: int | None = None, *, stage: str | None = None) -> None:
        if self.quiet:
            return
        with self._lock:
            new_stage = stage is not None and stage != self._stage
            now = self.clock()
            if new_stage:
                self._stage, self._stage_start = str(stage), now
            if total != self._total or done < self._done:  # a new count: measure its rate afresh
                self._base = (now, done)
            self._done, self._total = done, total
            if self._bar is not None:
                description = f"{self.label}: {self._stage}" if self._stage else self.label
                self._bar.update(self._task, completed=done, total=total, description=description)  # type: ignore[arg-type]
                return
            if now - self._start < self.after:
                return
            if new_stage or now - self._last_line >= self.interval or not self._printed:
                self._line(now)

    def line(self) -> str:
        """The log line now: `eval default: arithmetic 12/40 (30%) · 1m05s · ETA 2m31s` (time since the job began;
        the ETA from the rate since the count began), or `audit default: stage 5/8 eval · 3m10s` without a count."""
        now = self.clock()
        head = f"{self.label}: {self._stage}" if self._stage else self.label
        if self._total:
            fmt = _size if self.in_bytes else str
            part = f"{head} {fmt(self._done)}/{fmt(self._total)} ({self._done / self._total:.0%})"
            part += f" · {duration(now - self._start)}"
            since, done_then = self._base
            if done_then < self._done < self._total and now - since >= 1:  # a rate needs some time to measure
                rate = (self._done - done_then) / (now - since)
                part += f" · ETA {duration((self._total - self._done) / rate)}"
            return part
        spent = now - self._stage_start
        return f"{head} · {duration(spent)}" if spent >= 1 else head

    def _line(self, now: float) -> None:
        self._last_line, self._printed = now, True
        self.console.print(self.line(), highlight=False, markup=False, soft_wrap=True)

    def _tick(self) -> None:
        """In a log, a line every interval even when nothing reports (a long stage with no count)."""
        while not self._stop.wait(min(1.0, self.interval)):
            with self._lock:
                now = self.clock()
                if now - self._last_line >= self.interval:
                    self._line(now)
