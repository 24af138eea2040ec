"""`warden` with the watermark and provenance commands registered as cli/main.py will register them, and a runner
for tests: the real entry point in a subprocess, so exit codes and stderr are real."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path


@dataclass
class Result:
    code: int
    out: str
    err: str


def run_warden(
    home: Path, cwd: Path, *args: str, stdin: str | None = None, env: dict[str, str] | None = None
) -> Result:
    """Run `warden ARGS` with WARDEN_HOME=home in cwd."""
    full_env = {**os.environ, "WARDEN_HOME": str(home), "COLUMNS": "200", "NO_COLOR": "1", **(env or {})}
    proc = subprocess.run(
        [sys.executable, __file__, *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=600,
        env=full_env,
        cwd=cwd,
    )
    return Result(proc.returncode, proc.stdout, proc.stderr)


def _register() -> None:
    from weightwarden.cli import main as warden
    from weightwarden.cli import provenance, watermark

    if not any(group.name == "watermark" for group in warden.app.registered_groups):
        warden.app.add_typer(watermark.app, name="watermark")
    names = {command.name for command in warden.app.registered_commands}
    for name, command in (("contamination", provenance.contamination), ("regurgitation", provenance.regurgitation)):
        if name not in names:
            warden.app.command(name=name)(command)
    warden.main()


if __name__ == "__main__":
    _register()
