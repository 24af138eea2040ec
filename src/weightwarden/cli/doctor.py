"""`warden doctor`: what this machine offers and how weightwarden sees it, and what to do about each problem."""

from __future__ import annotations

import typer

from weightwarden import __version__
from weightwarden.cli.common import DbOption, JsonOption, console, settings
from weightwarden.cli.output import Grid, echo_json, show, styled
from weightwarden.doctor import diagnose

STATUS_STYLE = {"ok": "green", "warn": "yellow", "fail": "bold red"}


def doctor(db: DbOption = None, as_json: JsonOption = False) -> None:
    """What this machine offers and how weightwarden sees it, with what to do about each problem.

    Checks the llama.cpp build (AVX2 baseline or native) and CPU features, threads, the embedded models, the ledger
    (URL, schema version, PostgreSQL reachability) and free disk.

    Exit code 0 when nothing failed (warnings included), 1 when a check failed, 2 on an error.
    """
    s = settings(db=db)
    checks = diagnose(s)
    failed = [c for c in checks if c.status == "fail"]
    if as_json:
        echo_json({"version": __version__, "checks": [c.as_dict() for c in checks], "ok": not failed})
    else:
        grid = Grid(f"weightwarden {__version__} doctor", ("check", "status", "found", "what to do"))
        for c in checks:
            grid.add(c.name, styled(c.status, STATUS_STYLE[c.status]), c.detail, c.fix)
        show(grid)
        problems = sum(c.status != "ok" for c in checks)
        console.print(f"{problems} problem(s)" if problems else "all checks ok", highlight=False, markup=False)
    if failed:
        raise typer.Exit(1)
