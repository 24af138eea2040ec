"""`warden audit`: the main job, every stage on one model, one report."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from weightwarden.cli.common import (
    BackendOption,
    DbOption,
    JsonOption,
    QuietOption,
    console,
    err_console,
    open_runtime,
    resolve_model,
    settings,
)
from weightwarden.ledger import Ledger
from weightwarden.report.audit import run_audit

STATUS_STYLE = {"ok": "green", "warn": "yellow", "fail": "red"}


def audit(
    model: Annotated[
        str, typer.Argument(help="`default`, a .gguf file, a Hugging Face folder, or openai:URL#model.")
    ] = "default",
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Folder for report folders (default ./warden-report).", show_default=False),
    ] = None,
    quick: Annotated[
        bool,
        typer.Option(
            "--quick", help="Measure speed once instead of best of two; evaluate 5 items per task, not the full suites."
        ),
    ] = False,
    train: Annotated[
        Path | None,
        typer.Option(
            "--train",
            help="A training corpus (file or folder) to check --bench against for contamination.",
            show_default=False,
        ),
    ] = None,
    bench: Annotated[
        Path | None,
        typer.Option(
            "--bench", help="A benchmark file (JSONL, CSV or text) for the contamination check.", show_default=False
        ),
    ] = None,
    eval_limit: Annotated[
        int,
        typer.Option(
            "--eval-limit",
            min=0,
            help="Items per built-in eval task (spread through each file); 0 evaluates every item (over an hour on "
            "two cores). --quick uses at most 3.",
        ),
    ] = 10,
    backend: BackendOption = "auto",
    db: DbOption = None,
    as_json: JsonOption = False,
    quiet: QuietOption = False,
) -> None:
    """Run every stage on MODEL, record the run in the ledger, and write report.html and report.json."""
    s = settings(db=db, report_dir=str(out) if out else None)
    if (train is None) != (bench is None):
        raise typer.BadParameter("--train and --bench go together (a corpus and the benchmark to look for in it)")
    artifact = resolve_model(model, s, quiet or as_json)
    runtime = open_runtime(artifact, backend, s)
    try:
        with Ledger(s.db_url) as ledger:
            if quiet or as_json:
                report = run_audit(
                    artifact,
                    runtime,
                    ledger,
                    s.report_dir,
                    quick=quick,
                    settings=s,
                    train=train,
                    bench=bench,
                    eval_limit=eval_limit,
                )
            else:
                with err_console.status("auditing") as status:
                    report = run_audit(
                        artifact,
                        runtime,
                        ledger,
                        s.report_dir,
                        quick=quick,
                        progress=lambda st: status.update(f"stage: {st}"),
                        settings=s,
                        train=train,
                        bench=bench,
                        eval_limit=eval_limit,
                    )
    finally:
        runtime.close()
    if as_json:
        typer.echo(json.dumps(report, indent=2, default=str))
    else:
        table = Table(title=f"audit of {artifact.name} ({artifact.short_hash})")
        table.add_column("stage")
        table.add_column("status")
        table.add_column("summary")
        for st in report["stages"]:
            table.add_row(st["title"], f"[{STATUS_STYLE.get(st['status'], 'white')}]{st['status']}[/]", st["summary"])
        console.print(table)
        console.print(f"report: {report['paths']['html']}")
        console.print(f"ledger run {report['run_id']} in {s.db_url}")
    if report["status"] == "failed":
        raise typer.Exit(1)
