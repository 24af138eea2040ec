"""`warden monitor canary MODEL_OR_ROUTE`: the served model on a fixed item set, compared with its first canary run."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from weightwarden.audit.canary import CanaryResult, run_canary
from weightwarden.cli.common import (
    BackendOption,
    DbOption,
    JsonOption,
    QuietOption,
    check_backend,
    console,
    err_console,
    resolve_model,
    settings,
)
from weightwarden.cli.evaluate import select_tasks
from weightwarden.cli.output import Grid, echo_json, show
from weightwarden.cli.progress import Reporter
from weightwarden.config import Settings
from weightwarden.errors import ConfigError
from weightwarden.eval.suites import EvalTask
from weightwarden.ledger import Ledger, ModelRecord
from weightwarden.monitor.window import parse_span
from weightwarden.runtimes import load_runtime


def target_ref(model: str, gateway: str | None) -> str:
    """The model reference to evaluate: MODEL itself, or route MODEL of the gateway at URL (openai:URL#MODEL)."""
    if gateway is None:
        return model
    if model.startswith("openai:"):
        raise ConfigError(f"{model!r} already names its server: drop --gateway, or pass only the route name")
    return f"openai:{gateway.rstrip('/')}#{model}"


def _once(
    ref: str,
    s: Settings,
    tasks: list[EvalTask],
    *,
    limit: int | None,
    alpha: float,
    backend: str,
    api_key: str,
    quiet: bool,
) -> CanaryResult:
    """One canary run; the runtime is opened afresh each time, so a restarted upstream is reached again."""
    artifact = resolve_model(ref, s, quiet=True)
    runtime = load_runtime(
        artifact, check_backend(backend), n_ctx=s.n_ctx, threads=s.threads, timeout=s.timeout, api_key=api_key
    )
    try:
        with Ledger(s.db_url) as ledger, Reporter(f"canary {ref}", quiet=quiet) as report:
            ledger.upsert_model(ModelRecord.of(artifact))
            return run_canary(
                runtime,
                artifact.sha256,
                tasks,
                ledger,
                target=ref,
                limit=limit,
                alpha=alpha,
                progress=lambda done, total, task_id: report.update(done, total, stage=task_id),
            )
    finally:
        runtime.close()


def _print(result: CanaryResult, ref: str) -> None:
    if result.comparison is None:
        console.print(
            f"canary {ref}: first run {result.run_id} is the baseline of later runs", highlight=False, markup=False
        )
        return
    grid = Grid(
        f"canary {ref}: run {result.run_id} against baseline {result.baseline_id}",
        ("metric", "n", "baseline", "now", "delta", "p", "test"),
        right=("n", "baseline", "now", "delta", "p"),
    )
    for m in result.comparison.metrics:
        if m.level != "suite":
            continue
        r = m.result
        style = "red" if m in result.regressions else "green" if m in result.improvements else ""
        grid.add(
            m.name,
            str(r.n),
            f"{r.base:.4f}",
            f"{r.candidate:.4f}",
            f"{r.delta:+.4f}",
            f"{r.p_value:.3g}",
            r.method,
            style=style,
        )
    show(grid)
    flips = len(result.comparison.flips)
    if result.regressed:
        names = ", ".join(m.name for m in result.regressions)
        verdict = f"REGRESSION at alpha {result.alpha}: {names}"
    elif result.improvements:
        verdict = f"changed (better) at alpha {result.alpha}: {', '.join(m.name for m in result.improvements)}"
    else:
        verdict = f"no significant change at alpha {result.alpha}"
    console.print(
        f"{verdict}; {flips} item(s) flipped; monitor run {result.monitor_run_id}", highlight=False, markup=False
    )


def canary_cmd(
    model: Annotated[
        str,
        typer.Argument(
            help="What is served: openai:http://host:port/v1#model, or a route name with --gateway, or a local model."
        ),
    ],
    gateway: Annotated[
        str | None,
        typer.Option(
            "--gateway",
            help="The gateway's base URL (http://host:port/v1): MODEL is then a route name.",
            show_default=False,
        ),
    ] = None,
    suite: Annotated[
        str | None,
        typer.Option("--suite", help="A built-in suite (quality unless --task is given).", show_default=False),
    ] = None,
    task: Annotated[
        list[Path] | None,
        typer.Option("--task", help="A task file (YAML beside its JSONL data); repeat for more.", show_default=False),
    ] = None,
    limit: Annotated[
        int | None,
        typer.Option(
            "--limit", min=1, help="At most N items per task: the fixed set every run asks.", show_default=False
        ),
    ] = 20,
    every: Annotated[
        str | None,
        typer.Option("--every", help="Run again after this long (30s, 15m, 1h) until Ctrl-C.", show_default=False),
    ] = None,
    max_runs: Annotated[
        int | None, typer.Option("--max-runs", min=1, help="With --every: stop after N runs.", show_default=False)
    ] = None,
    alpha: Annotated[float, typer.Option("--alpha", min=0.0001, max=0.5, help="Significance level.")] = 0.05,
    api_key: Annotated[
        str, typer.Option("--api-key", envvar="OPENAI_API_KEY", help="The key the gateway expects.", show_default=False)
    ] = "none",
    backend: BackendOption = "auto",
    as_json: JsonOption = False,
    quiet: QuietOption = False,
    db: DbOption = None,
) -> None:
    """Evaluate the served model on a fixed item set and compare with its first canary run (paired tests).

    Exit 1 when a suite metric is significantly worse than in the first run (a silent swap, a changed upstream or
    quantization), 0 otherwise. Each run is an eval run plus a monitor run in the ledger.
    """
    period = None
    if every is not None:
        span = parse_span(every)
        if span is None or span.total_seconds() <= 0:
            raise typer.BadParameter(f"{every!r} is not a duration: write 30s, 15m, 1h or 1d", param_hint="--every")
        period = span.total_seconds()
    ref = target_ref(model, gateway)
    s = settings(db=db)
    tasks = select_tasks("quality" if suite is None and not task else suite, task or [])
    done, last = 0, None
    try:
        while True:
            last = _once(
                ref, s, tasks, limit=limit, alpha=alpha, backend=backend, api_key=api_key, quiet=quiet or as_json
            )
            done += 1
            if as_json:
                echo_json({"target": ref, "monitor_run_id": last.monitor_run_id, **last.summary()})
            else:
                _print(last, ref)
            if period is None or (max_runs is not None and done >= max_runs):
                break
            if not (quiet or as_json):
                err_console.print(f"next canary run in {every} (Ctrl-C stops)", highlight=False)
            time.sleep(period)
    except KeyboardInterrupt:
        err_console.print(f"stopped after {done} canary run(s)", highlight=False)
    if last is not None and last.regressed:
        raise typer.Exit(1)
