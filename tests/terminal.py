"""Run the real `warden` as people meet it: with stdout a pipe (a CI log, `| tee`) or a pseudo-terminal (pexpect).

Both start `python -m weightwarden.cli.main` in a subprocess with stdin closed (a pipe run) or the pty as every
stream (a terminal run), an isolated WARDEN_HOME, and no COLUMNS unless a test sets it.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07")


@dataclass
class Run:
    code: int
    out: str
    err: str


def environment(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES", "NO_COLOR", "FORCE_COLOR", "TERM")}
    env.update({"WARDEN_HOME": str(home), "WARDEN_THREADS": "1", "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"})
    env.update(extra)
    return env


def piped(home: Path, *args: str, timeout: float = 600, **env: str) -> Run:
    """stdout and stderr are pipes and stdin is /dev/null, as under CI or `make demo | tee log`."""
    proc = subprocess.run(
        [sys.executable, "-m", "weightwarden.cli.main", *args],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=environment(home, **env),
        cwd=home.parent,
    )
    return Run(proc.returncode, proc.stdout, proc.stderr)


def in_terminal(home: Path, *args: str, width: int = 100, timeout: float = 600, **env: str) -> Run:
    """Every stream is a pseudo-terminal `width` columns wide; out holds everything written, err is empty."""
    import pexpect

    child = pexpect.spawn(
        sys.executable,
        ["-m", "weightwarden.cli.main", *args],
        env=environment(home, TERM="xterm-256color", **env),
        cwd=str(home.parent),
        dimensions=(40, width),
        encoding="utf-8",
        codec_errors="replace",
        timeout=timeout,
    )
    out = child.read()
    child.close()
    code = child.exitstatus if child.exitstatus is not None else 128 + (child.signalstatus or 0)
    return Run(code, out.replace("\r\n", "\n"), "")


def plain(text: str) -> str:
    return ANSI.sub("", text)
