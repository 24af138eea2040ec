"""`warden audit`: the main job, every stage on one model, one report."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from weightwarden.cli.common import (
    BackendOption,
    DbOption,
    JsonOption,
    QuietOption,
    console,
    open_runtime,
    resolve_model,
    settings,
)
from weightwarden.cli.output import Format, FormatOption, Grid, echo_json, pick_format, show, styled
from weightwarden.cli.progress import Reporter
from weightwarden.ledger import Ledger

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
    fmt: FormatOption = None,
    quiet: QuietOption = False,
) -> None:
    """Run every stage on MODEL, record the run in the ledger, and write report.html and report.json."""
    fmt_ = pick_format(fmt, as_json)
    as_json = fmt_ is Format.json
    s = settings(db=db, report_dir=str(out) if out else None)
    if (train is None) != (bench is None):
        raise typer.BadParameter("--train and --bench go together (a corpus and the benchmark to look for in it)")
    from weightwarden.audit import STAGES, run_audit  # scipy and every stage load only for this command
    from weightwarden.report import render_run

    artifact = resolve_model(model, s, quiet or as_json)
    runtime = open_runtime(artifact, backend, s)
    try:
        with Ledger(s.db_url) as ledger, Reporter(f"audit {model}", quiet=quiet or as_json) as report:
            stages = list(STAGES)

            def stage(key: str) -> None:
                n = stages.index(key) + 1 if key in stages else 0
                report.stage(f"stage {n}/{len(stages)} {key}")

            def items(done: int, total: int, task: str) -> None:
                report.update(done, total, stage=f"stage {stages.index('eval') + 1}/{len(stages)} eval {task}")

            run = run_audit(
                artifact,
                runtime,
                ledger,
                quick=quick,
                progress=stage,
                settings=s,
                train=train,
                bench=bench,
                eval_limit=eval_limit,
                item_progress=items,
            )
            # The report is rendered from what the ledger now holds, as `warden report RUN_ID` would render it.
            result, paths = render_run(ledger, run.run_id, s.report_dir / artifact.short_hash)
    finally:
        runtime.close()
    result["paths"] = {fmt: str(path) for fmt, path in paths.items()}
    if fmt_ is Format.json:
        echo_json(result)
    else:
        grid = Grid(f"audit of {artifact.name} ({artifact.short_hash})", ("stage", "status", "summary"))
        for st in result["stages"]:
            grid.add(st["title"], styled(st["status"], STATUS_STYLE.get(st["status"], "")), st["summary"])
        show(grid, fmt_)
        console.print(f"report: {result['paths']['html']}", highlight=False, markup=False, soft_wrap=True)
        console.print(f"ledger run {result['run_id']} in {s.db_url}", highlight=False, markup=False, soft_wrap=True)
    if result["status"] == "failed":
        raise typer.Exit(1)
