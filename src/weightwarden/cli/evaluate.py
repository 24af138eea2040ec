"""`warden eval`: run built-in suites or your own task files on a model, with 95% intervals, into the ledger."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer

from weightwarden.cli.common import (
    BackendOption,
    DbOption,
    JsonOption,
    QuietOption,
    check_backend,
    console,
    err_console,
    open_runtime,
    resolve_model,
    settings,
)
from weightwarden.cli.output import Format, FormatOption, Grid, echo_json, pick_format, show
from weightwarden.cli.progress import Reporter
from weightwarden.config import Settings
from weightwarden.errors import TaskError
from weightwarden.eval import EvalResult, load_suite, load_task, resolve_tasks, run_eval
from weightwarden.eval.performance import performance
from weightwarden.eval.runner import DEFAULT_BATCH_ITEMS
from weightwarden.eval.suites import SUITES, EvalTask
from weightwarden.ledger import Ledger, ModelRecord
from weightwarden.runtimes import Artifact, Runtime
from weightwarden.runtimes.platform_info import PLATFORM_KEY, platform_info


def select_tasks(suite: str | None, task_files: list[Path], *, allow_empty: bool = False) -> list[EvalTask]:
    tasks: list[EvalTask] = []
    if suite is not None:
        tasks.extend(load_suite(suite))
    tasks.extend(load_task(p) for p in task_files)
    if not tasks and not allow_empty:
        raise TaskError(f"nothing to evaluate: pass --suite ({', '.join(SUITES)}, performance or all) or --task PATH")
    return resolve_tasks(tasks)


def _grid(result: EvalResult, title: str) -> Grid:
    grid = Grid(title, ("task", "metric", "value", "95% interval", "n", "method"), right=("value", "n"))
    for t in result.tasks:
        first = True
        for name, m in t.metrics.items():
            grid.add(
                t.task_id if first else "",
                name,
                f"{m.value:.3f}",
                f"[{m.low:.3f}, {m.high:.3f}]",
                str(m.n),
                m.method,
            )
            first = False
        if not t.metrics:
            grid.add(t.task_id, "(no items)", "", "", "0", "")
    return grid


def eval_with_progress(
    runtime: Runtime, model_hash: str, tasks: list[EvalTask], ledger: Ledger, quiet: bool, label: str, **kwargs: Any
) -> EvalResult:
    """run_eval with a progress bar (terminal) or log lines (elsewhere) on stderr, per task: done/total and ETA."""
    with Reporter(label, quiet=quiet) as report:
        return run_eval(
            runtime,
            model_hash,
            tasks,
            ledger,
            progress=lambda done, total, task_id: report.update(done, total, stage=task_id),
            **kwargs,
        )


def eval_on_ray(
    artifact: Artifact, tasks: list[EvalTask], ledger: Ledger, s: Settings, options: RayOptions, **kwargs: Any
) -> EvalResult:
    """run_eval_ray with the same progress as eval_with_progress, as each unit of items comes back."""
    from weightwarden.eval.ray_runner import run_eval_ray

    with Reporter(options.label, quiet=options.quiet) as report:
        return run_eval_ray(
            artifact,
            tasks,
            ledger,
            address=options.address,
            workers=options.workers,
            backend=check_backend(options.backend),
            n_ctx=s.n_ctx,
            threads=s.threads,
            timeout=s.timeout,
            progress=lambda done, total, task_id: report.update(done, total, stage=task_id),
            **kwargs,
        )


@dataclass(frozen=True)
class RayOptions:
    address: str | None
    workers: int
    backend: str
    label: str
    quiet: bool


RAY_LOCAL = "local"  # what a bare --ray stands for: start a local Ray cluster for the run


def bare_ray(args: list[str]) -> list[str]:
    """`warden eval ... --ray` with no address means `--ray local` (typer has no options with an optional value)."""
    if "eval" not in args:
        return args
    for i, arg in enumerate(args):
        if arg == "--ray" and (i + 1 == len(args) or args[i + 1].startswith("-")):
            return [*args[: i + 1], RAY_LOCAL, *args[i + 1 :]]
    return args


def evaluate(
    model: Annotated[
        str, typer.Argument(help="`default`, a .gguf file, a Hugging Face folder, or openai:URL#model.")
    ] = "default",
    suite: Annotated[
        str | None,
        typer.Option(
            "--suite",
            help=f"A built-in suite: {', '.join(SUITES)}, performance (speed, memory, cost per 1M tokens from the "
            "power_watts/usd_per_kwh or usd_per_hour settings) or all.",
            show_default=False,
        ),
    ] = None,
    task: Annotated[
        list[Path] | None,
        typer.Option("--task", help="A task file (YAML beside its JSONL data); repeat for more.", show_default=False),
    ] = None,
    limit: Annotated[
        int | None,
        typer.Option(
            "--limit", min=1, help="At most N items per task, evenly spaced through each file.", show_default=False
        ),
    ] = None,
    resume: Annotated[
        str | None,
        typer.Option(
            "--resume",
            help="Continue this eval run (by default the latest unfinished run with the same tasks continues).",
            show_default=False,
        ),
    ] = None,
    fresh: Annotated[bool, typer.Option("--fresh", help="Start a new run even if an unfinished one matches.")] = False,
    no_cache: Annotated[bool, typer.Option("--no-cache", help="Run every request, ignoring cached answers.")] = False,
    batch_size: Annotated[
        int,
        typer.Option(
            "--batch-size",
            min=0,
            help="Items whose log-likelihood requests are scored together (shared prefixes computed once by "
            "llama.cpp, padded batches in transformers); 0 scores each request alone.",
        ),
    ] = DEFAULT_BATCH_ITEMS,
    batch_generations: Annotated[
        bool,
        typer.Option(
            "--batch-generations",
            help="Also decode greedy answers several at a time (llama.cpp; about 2x faster). Answers then depend on "
            "which items share a batch: near ties in the model can flip, so wording differs from one-at-a-time "
            "answers. Off by default, so that a rerun or a resumed run gives the same answers.",
        ),
    ] = False,
    ray: Annotated[
        str | None,
        typer.Option(
            "--ray",
            metavar="[ADDRESS]",
            help="Score the items on Ray actors, each with its own copy of the model (a remote model: each calls its "
            "server); the ledger, cache and scores are those of a run without --ray. A bare --ray starts a local "
            "Ray for the run; --ray ADDRESS connects to a cluster (host:6379 or ray://host:10001). Needs `pip "
            "install 'weightwarden\\[ray]'`.",
            show_default=False,
        ),
    ] = None,
    ray_workers: Annotated[
        int,
        typer.Option(
            "--ray-workers",
            min=0,
            help="Ray actors to start (0: one per CPU of the cluster, each with one thread).",
        ),
    ] = 0,
    backend: BackendOption = "auto",
    db: DbOption = None,
    as_json: JsonOption = False,
    fmt: FormatOption = None,
    quiet: QuietOption = False,
) -> None:
    """Evaluate MODEL on built-in suites (--suite) and/or your own tasks (--task): each metric with a 95% interval."""
    fmt_ = pick_format(fmt, as_json)
    as_json = fmt_ is Format.json
    s = settings(db=db)
    chosen = suite if suite is not None or task else "all"
    perf_wanted = chosen in ("performance", "all")
    tasks = select_tasks(None if chosen == "performance" else chosen, task or [], allow_empty=perf_wanted)
    artifact = resolve_model(model, s, quiet or as_json)
    if ray is not None:
        from weightwarden.eval.ray_runner import import_ray

        import_ray()  # before any model loads: without Ray, say how to get it
    # With --ray the actors load the model; this process needs it only to measure speed.
    runtime = open_runtime(artifact, backend, s) if ray is None or perf_wanted else None
    try:
        with Ledger(s.db_url) as ledger:
            ledger.upsert_model(ModelRecord.of(artifact))
            kwargs = {
                "limit": limit,
                "resume": resume,
                "auto_resume": not fresh,
                "use_cache": not no_cache,
                "batch_size": batch_size,
                "batch_generations": batch_generations,
            }
            if not tasks:  # performance only
                assert runtime is not None
                where = platform_info(threads=runtime.info.details.get("threads")).as_dict()
                run_id = ledger.start_run("eval", artifact.sha256, {"suites": ["performance"], PLATFORM_KEY: where})
                result = EvalResult(run_id, artifact.sha256, [])
            elif ray is not None:
                address = None if ray == RAY_LOCAL else ray
                options = RayOptions(address, ray_workers, backend, f"eval {model} on Ray", quiet or as_json)
                result = eval_on_ray(artifact, tasks, ledger, s, options, **kwargs)
            else:
                assert runtime is not None
                result = eval_with_progress(
                    runtime, artifact.sha256, tasks, ledger, quiet or as_json, f"eval {model}", **kwargs
                )
            if perf_wanted:
                assert runtime is not None
                if not (quiet or as_json):
                    err_console.print("measuring speed (5 repeats)", highlight=False)
                perf = performance(runtime, s)
                result.tasks.append(perf)
                ledger.add_event("eval.performance", perf.as_dict(), result.run_id)
                if not tasks:
                    ledger.finish_run(result.run_id, "ok", {"tasks": [perf.as_dict()]})
    finally:
        if runtime is not None:
            runtime.close()
    for note in result.warnings:  # on stderr even with --json, whose output carries them too
        err_console.print(f"[yellow]warning:[/] {note}", highlight=False)
    if as_json:
        about = {"name": artifact.name, "ref": artifact.ref, "sha256": artifact.sha256}
        echo_json({"model": about, **result.as_dict()})
        return
    show(_grid(result, f"eval of {artifact.name} ({artifact.short_hash})"), fmt_)
    console.print(
        f"run {result.run_id} · {result.requests} model calls, {result.cached} from cache"
        + (f", {result.resumed_items} items resumed" if result.resumed_items else "")
        + f" · {result.seconds:.1f} s",
        highlight=False,
        markup=False,
    )
