"""Progress on stderr: a line per stage and at most one every 10 seconds in a log, a bar in a terminal, none quiet."""

from __future__ import annotations

import io

from rich.console import Console

from weightwarden.cli.progress import Reporter, duration


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _log() -> tuple[Console, io.StringIO]:
    buf = io.StringIO()
    return Console(file=buf, force_terminal=False, width=200), buf


def test_a_log_gets_a_line_per_stage_and_at_most_one_per_interval() -> None:
    console, buf = _log()
    clock = Clock()
    with Reporter("eval default", console=console, clock=clock, interval=10) as report:
        report.update(0, 40, stage="arithmetic")
        for done in range(1, 41):
            clock.now += 1  # one item a second: 40 updates in 40 s
            report.update(done, 40, stage="arithmetic")
        report.update(0, 8, stage="reading")
    lines = buf.getvalue().splitlines()
    assert lines[0] == "eval default: arithmetic 0/40 (0%) · 0s"
    assert lines[1] == "eval default: arithmetic 10/40 (25%) · 10s · ETA 30s"
    assert lines[2] == "eval default: arithmetic 20/40 (50%) · 20s · ETA 20s"
    assert lines[-2].startswith("eval default: reading 0/8")
    assert lines[-1] == "eval default: finished in 40s"
    assert len(lines) == 7  # stage, 10 s, 20 s, 30 s, 40 s, stage, finished


def test_the_eta_comes_from_the_rate_of_the_current_count() -> None:
    console, buf = _log()
    clock = Clock()
    with Reporter("eval", console=console, clock=clock, interval=10) as report:
        report.update(10, 40, stage="a")  # ten items already done (resumed) when the count starts
        clock.now += 20
        report.update(20, 40, stage="b")  # ten more in 20 s: 20 left take 40 s
    assert buf.getvalue().splitlines()[1] == "eval: b 20/40 (50%) · 20s · ETA 40s"


def test_a_stage_without_counts_says_how_long_it_has_run() -> None:
    console, buf = _log()
    clock = Clock()
    with Reporter("audit", console=console, clock=clock, interval=10) as report:
        report.stage("stage 1/8 facts")
        clock.now += 75
        report.update(0, None)
    assert buf.getvalue().splitlines() == [
        "audit: stage 1/8 facts",
        "audit: stage 1/8 facts · 1m15s",
        "audit: finished in 1m15s",
    ]


def test_a_log_gets_a_heartbeat_when_nothing_reports() -> None:
    console, buf = _log()
    with Reporter("audit", console=console, interval=0.2) as report:
        report.stage("eval")
        import time

        deadline = time.monotonic() + 30  # wait for a heartbeat, however late its thread runs on a loaded machine
        while len(buf.getvalue().splitlines()) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
    lines = buf.getvalue().splitlines()
    assert lines[0] == "audit: eval" and len(lines) >= 2 and lines[1].startswith("audit: eval")


def test_bytes_are_shown_in_units() -> None:
    console, buf = _log()
    clock = Clock()
    with Reporter("hashing", console=console, clock=clock, in_bytes=True) as report:
        report.update(250_000_000, 1_000_000_000, stage="model.gguf")
    assert buf.getvalue().splitlines()[0] == "hashing: model.gguf 250.0 MB/1.0 GB (25%) · 0s"


def test_quiet_prints_nothing_and_a_terminal_gets_a_bar() -> None:
    console, buf = _log()
    with Reporter("eval", console=console, quiet=True) as report:
        report.update(1, 2, stage="x")
        assert not report.live
    assert buf.getvalue() == ""
    term = io.StringIO()
    tty = Console(file=term, force_terminal=True, width=100)
    with Reporter("eval", console=tty) as report:
        assert report.live
        report.update(1, 4, stage="arithmetic")
        report._bar.refresh()  # type: ignore[union-attr]
    assert "eval: arithmetic" in term.getvalue() and "1/4" in term.getvalue() and "ETA" in term.getvalue()


def test_duration() -> None:
    assert [duration(s) for s in (4.4, 65, 3725)] == ["4s", "1m05s", "1h02m"]


def test_a_quick_job_says_nothing_in_a_log() -> None:
    console, buf = _log()
    clock = Clock()
    with Reporter("hashing", console=console, clock=clock, in_bytes=True, after=2) as report:
        report.update(50, 100, stage="small.gguf")
        clock.now += 0.5
        report.update(100, 100, stage="small.gguf")
    assert buf.getvalue() == ""
    with Reporter("hashing", console=console, clock=clock, in_bytes=True, after=2) as report:
        report.update(1, 100, stage="big.gguf")
        clock.now += 3
        report.update(30, 100, stage="big.gguf")  # past `after`: the first line, with an ETA
    assert buf.getvalue().splitlines() == [
        "hashing: big.gguf 30 B/100 B (30%) · 3s · ETA 7s",
        "hashing: finished in 3s",
    ]
