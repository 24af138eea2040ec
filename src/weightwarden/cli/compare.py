"""`warden compare BASE CANDIDATE`: two stored eval runs, paired tests per metric, flipped items, CI gates.

Exit 0 when every gate passes, 1 when one fails, 2 on an error (a missing run, a bad gate, a model mismatch).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

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
from weightwarden.cli.evaluate import eval_with_progress, select_tasks
from weightwarden.cli.output import Format, FormatOption, Grid, echo_json, pick_format, show
from weightwarden.config import Settings
from weightwarden.eval.compare import CompareError, Comparison, Gate, GateResult, gate_from_flag, gates_from_yaml
from weightwarden.eval.compare import compare as compare_scores
from weightwarden.eval.compare_runs import eval_run, platform_check, run_grouped_scores, run_scores
from weightwarden.eval.suites import EvalTask
from weightwarden.ledger import Ledger, ModelRecord

MAX_FLIPS_SHOWN = 20


def _gates(gates_file: Path | None, flags: list[str]) -> list[Gate]:
    gates: dict[str, Gate] = {}
    if gates_file is not None:
        try:
            text = gates_file.read_text(encoding="utf-8")
        except OSError as exc:
            raise CompareError(f"cannot read gates file {gates_file}: {exc.strerror or exc}; check the path") from None
        gates.update((g.metric, g) for g in gates_from_yaml(text, str(gates_file)))
    gates.update((g.metric, g) for g in map(gate_from_flag, flags))  # a flag overrides the file's gate
    return list(gates.values())


def _grid(cmp: Comparison, title: str) -> Grid:
    columns = ("metric", "n", "base", "candidate", "delta", "95% interval", "p", "test", "flips -/+")
    grid = Grid(title, columns, right=set(columns) - {"metric", "test"})
    for m in cmp.metrics:
        r = m.result
        flips = f"{r.base_only}/{r.candidate_only}" if r.method == "mcnemar" else ""
        style = "red" if m.drop > 0 and r.p_value < 0.05 else "green" if m.drop < 0 and r.p_value < 0.05 else ""
        grid.add(
            m.name,
            str(r.n),
            f"{r.base:.4f}",
            f"{r.candidate:.4f}",
            f"{r.delta:+.4f}",
            f"[{r.low:+.4f}, {r.high:+.4f}]",
            f"{r.p_value:.3g}",
            r.method,
            flips,
            style=style,
        )
    return grid


def _print(cmp: Comparison, results: list[GateResult], title: str, fmt: Format) -> None:
    md = fmt is Format.md
    show(_grid(cmp, title), fmt)
    if cmp.flips:
        console.print(f"flipped items ({len(cmp.flips)}; right->wrong then wrong->right):", markup=False)
        ordered = sorted(cmp.flips, key=lambda f: (f.direction != "right->wrong", f.task, f.metric, f.item_id))
        for f in ordered[:MAX_FLIPS_SHOWN]:
            line = f"{f.direction}  {f.task}  {f.item_id}  ({f.metric})"
            console.print(f"- `{line}`" if md else f"  {line}", highlight=False, markup=False)
        if len(ordered) > MAX_FLIPS_SHOWN:
            console.print(f"  ... and {len(ordered) - MAX_FLIPS_SHOWN} more (--json lists them all)", markup=False)
        if md:
            console.print()
    if cmp.base_only or cmp.candidate_only:
        err_console.print(
            f"[yellow]warning:[/] {len(cmp.base_only)} item(s) only in base, {len(cmp.candidate_only)} only in "
            "candidate: they are left out of the paired tests"
        )
    for g in results:
        if md:
            mark = "PASS" if g.passed else "FAIL"
            console.print(f"- gate `{g.gate.metric}`: **{mark}** ({g.reason}, n={g.n})", highlight=False, markup=False)
        else:
            mark = "[green]PASS[/]" if g.passed else "[red]FAIL[/]"
            console.print(f"gate {escape(g.gate.metric)}: {mark} ({escape(g.reason)}, n={g.n})", highlight=False)


def _evaluate(
    ref: str, s: Settings, tasks: list[EvalTask], limit: int | None, backend: str, ledger: Ledger, quiet: bool
) -> str:
    """Evaluate one model for compare and return the run id; answers already in the ledger's cache are reused."""
    artifact = resolve_model(ref, s, quiet)
    runtime = open_runtime(artifact, backend, s)
    try:
        ledger.upsert_model(ModelRecord.of(artifact))
        if not quiet:
            err_console.print(f"evaluating {ref} (answers already in the ledger are reused)", highlight=False)
        return eval_with_progress(runtime, artifact.sha256, tasks, ledger, quiet, f"eval {ref}", limit=limit).run_id
    finally:
        runtime.close()


def compare(
    base: Annotated[str, typer.Argument(help="The base model: `default`, a .gguf file, a folder, openai:URL#model.")],
    candidate: Annotated[str, typer.Argument(help="The candidate model (a fine-tune, a new quantization, ...).")],
    run_base: Annotated[
        str | None, typer.Option("--run-base", help="The eval run id of BASE (from `warden eval`).", show_default=False)
    ] = None,
    run_candidate: Annotated[
        str | None,
        typer.Option("--run-candidate", help="The eval run id of CANDIDATE (from `warden eval`).", show_default=False),
    ] = None,
    gates_file: Annotated[
        Path | None,
        typer.Option(
            "--gates", help="YAML gates: `quality.acc: {max_drop: 0.01, significance: 0.05}`.", show_default=False
        ),
    ] = None,
    gate: Annotated[
        list[str] | None,
        typer.Option(
            "--gate", help="A gate, repeatable: quality.acc:max_drop=0.01[,significance=0.05].", show_default=False
        ),
    ] = None,
    suite: Annotated[
        str | None,
        typer.Option(
            "--suite", help="Without run ids: evaluate both models on this built-in suite first.", show_default=False
        ),
    ] = None,
    task: Annotated[
        list[Path] | None,
        typer.Option("--task", help="Without run ids: evaluate both models on this task first.", show_default=False),
    ] = None,
    limit: Annotated[
        int | None, typer.Option("--limit", min=1, help="With --suite/--task: items per task.", show_default=False)
    ] = None,
    backend: BackendOption = "auto",
    db: DbOption = None,
    as_json: JsonOption = False,
    fmt: FormatOption = None,
    quiet: QuietOption = False,
) -> None:
    """Compare two eval runs item by item: each metric's delta with a paired test, the flipped items, and gates.

    Exit code 0 when every gate passes, 1 when a gate fails, 2 on an error.
    """
    fmt_ = pick_format(fmt, as_json)
    as_json = fmt_ is Format.json
    to_run = select_tasks(suite, task or [], allow_empty=True) if (suite or task) else []
    if (not run_base or not run_candidate) and not to_run:
        missing = " and ".join(n for n, v in (("--run-base", run_base), ("--run-candidate", run_candidate)) if not v)
        raise CompareError(
            f"{missing} not given: pass --suite or --task to evaluate the models now, or make the runs first "
            f"with `warden eval {base}` and `warden eval {candidate}` and pass the run ids they print "
            "as --run-base and --run-candidate"
        )
    gates = _gates(gates_file, gate or [])
    s = settings(db=db)
    with Ledger(s.db_url) as ledger:
        if not run_base:
            run_base = _evaluate(base, s, to_run, limit, backend, ledger, quiet or as_json)
        if not run_candidate:
            run_candidate = _evaluate(candidate, s, to_run, limit, backend, ledger, quiet or as_json)
        runs = {}
        for side, ref, run_id in (("base", base, run_base), ("candidate", candidate, run_candidate)):
            run = eval_run(ledger, run_id, side)
            artifact = resolve_model(ref, s, quiet or as_json)
            if artifact.sha256 != run.model_hash:
                raise CompareError(
                    f"run {run_id} evaluated model {run.model_hash[:12]}, but {side} {ref!r} is {artifact.short_hash}: "
                    f"pass the run of {ref} as --run-{side}"
                )
            if run.status != "ok" and not as_json:
                err_console.print(f"[yellow]warning:[/] {side} run {run_id} is {run.status}; comparing what it stored")
            runs[side] = run
        where = platform_check(ledger, runs["base"], runs["candidate"])
        for note in where.warnings:  # on stderr even with --json, whose output carries them too
            err_console.print(f"[yellow]warning:[/] {note}", highlight=False)
        cmp = compare_scores(
            run_scores(ledger, run_base, "base"),
            run_scores(ledger, run_candidate, "candidate"),
            base_groups=run_grouped_scores(ledger, run_base),
            candidate_groups=run_grouped_scores(ledger, run_candidate),
        )
    results = cmp.check(gates)
    failed = [g for g in results if not g.passed]
    if as_json:
        out = {
            "base": {"model": base, "run_id": run_base, "model_hash": runs["base"].model_hash},
            "candidate": {"model": candidate, "run_id": run_candidate, "model_hash": runs["candidate"].model_hash},
            **cmp.as_dict(),
            "gates": [g.as_dict() for g in results],
            "platform": where.as_dict(),
            "warnings": where.warnings,
            "passed": not failed,
        }
        echo_json(out)
    else:
        _print(cmp, results, f"{candidate} ({run_candidate}) against {base} ({run_base})", fmt_)
    if failed:
        raise typer.Exit(1)
