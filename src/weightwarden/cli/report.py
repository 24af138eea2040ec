"""`warden report`: render a past audit or bench run again, from the ledger alone."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from weightwarden.cli.common import DbOption, JsonOption, QuietOption, console, settings
from weightwarden.cli.output import echo_json
from weightwarden.ledger import Ledger


class ReportFormat(StrEnum):
    """Which report file to write."""

    html = "html"
    json = "json"
    md = "md"


def report(
    run_id: Annotated[
        str, typer.Argument(help="The id of an audit or bench run (`warden audit` and `warden bench` print it).")
    ],
    formats: Annotated[
        list[ReportFormat] | None,
        typer.Option(
            "--format",
            help="html, json or md (short Markdown); repeat for several. Default: html and json, as the audit wrote.",
            show_default=False,
        ),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            help="Folder for the files (default: the run's own report folder, REPORT_DIR/<model hash> for an audit, "
            "REPORT_DIR/bench-<run id> for a bench).",
            show_default=False,
        ),
    ] = None,
    db: DbOption = None,
    as_json: JsonOption = False,
    quiet: QuietOption = False,
) -> None:
    """Write the report of run RUN_ID from the ledger: the same bytes `warden audit` (or `warden bench`) wrote, or
    Markdown."""
    from weightwarden.report import AUDIT_FORMATS, audit_document, write_report

    s = settings(db=db)
    wanted = [f.value for f in formats] if formats else list(AUDIT_FORMATS)
    with Ledger(s.db_url) as ledger:
        doc = audit_document(ledger, run_id)
    if out is not None:
        folder = out
    elif doc.get("kind") == "bench":
        folder = s.report_dir / f"bench-{run_id}"
    else:
        folder = s.report_dir / str(doc["model"].get("sha256", run_id))[:12]
    paths = write_report(doc, folder, dict.fromkeys(wanted))
    if as_json:
        echo_json({"run_id": run_id, "paths": {k: str(v) for k, v in paths.items()}})
    elif not quiet:
        for path in paths.values():
            console.print(f"report: {path}", highlight=False, markup=False, soft_wrap=True)
