"""`warden bench BACKEND [BACKEND...]`: on-device against cloud on one workload; a table, a ledger run, a report."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated, Any

import typer

from weightwarden.bench import BenchResult, Workload, parse_backend, parse_prices, run_bench
from weightwarden.cli.common import DbOption, JsonOption, QuietOption, console, err_console, settings
from weightwarden.cli.output import Format, FormatOption, Grid, echo_json, pick_format, show
from weightwarden.cli.progress import Reporter
from weightwarden.ledger import Ledger


def _ms(v: float) -> str:
    return "-" if v is None or math.isnan(v) else f"{v:.0f}"


def _grid(result: BenchResult) -> Grid:
    n = result.workload.clients
    columns = (
        "backend",
        "runtime",
        "tok/s @1",
        f"tok/s @{n}",
        "TTFT p50/p99 ms @1",
        f"TTFT p50/p99 ms @{n}",
        "429s",
        "quality",
        "delta",
        "p",
        "$/1M tok",
        "cost source",
    )
    grid = Grid(f"bench run {result.run_id}", columns, right=columns[2:11])
    for row in result.rows:
        usd = row["usd_per_1m"]
        grid.add(
            row["backend"],
            row["runtime"],
            f"{row['tok_s_1']:.1f}",
            f"{row['tok_s_n']:.1f}",
            f"{_ms(row['ttft_p50_ms_1'])}/{_ms(row['ttft_p99_ms_1'])}",
            f"{_ms(row['ttft_p50_ms_n'])}/{_ms(row['ttft_p99_ms_n'])}",
            str(row["throttled"]),
            f"{row['quality']:.3f} (n={row['quality_n']})",
            f"{row['quality_delta']:+.3f}",
            f"{row['quality_p']:.3g}",
            "-" if usd is None else f"{usd:.4f}",
            row["cost_source"],
        )
    return grid


def bench(
    backends: Annotated[
        list[str],
        typer.Argument(
            help="Backends, the first being the baseline: `default`, a .gguf file or model folder (runtime auto), "
            "llama.cpp:REF, transformers:REF (a GGUF is dequantized), or openai:http://host:port/v1#model "
            "(key from OPENAI_API_KEY).",
            show_default=False,
        ),
    ],
    clients: Annotated[int, typer.Option("--clients", min=1, help="Concurrent clients of the second phase.")] = 4,
    items: Annotated[int, typer.Option("--items", min=1, help="Items per eval task (evenly spaced).")] = 20,
    prompts: Annotated[int, typer.Option("--prompts", min=1, help="Chat prompts each client sends.")] = 8,
    max_tokens: Annotated[int, typer.Option("--max-tokens", min=1, help="Tokens generated per prompt, at most.")] = 64,
    price_per_hour: Annotated[
        list[str] | None,
        typer.Option(
            "--price-per-hour",
            help="USD an hour, for every backend (USD) or one (BACKEND=USD, BACKEND as typed or its position); "
            "it wins over measured energy. Repeatable.",
            show_default=False,
        ),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            help="Folder for report.html and report.json (default: REPORT_DIR/bench-<run id>).",
            show_default=False,
        ),
    ] = None,
    db: DbOption = None,
    as_json: JsonOption = False,
    fmt: FormatOption = None,
    quiet: QuietOption = False,
) -> None:
    """Run one workload (chat prompts, a fixed eval subset) against every BACKEND: tokens/s and time to first token
    at 1 and --clients concurrent clients, quality paired against the first backend, cost per 1M tokens.

    A local model serves concurrent clients from one runtime through a FIFO queue (as `warden serve` runs a local
    model: one request at a time); an openai: endpoint gets real concurrent HTTP streams.
    """
    from weightwarden.report import render_run

    fmt_ = pick_format(fmt, as_json)
    specs = [parse_backend(b) for b in backends]
    prices = parse_prices(price_per_hour or [])
    workload = Workload.bundled(prompts, max_tokens=max_tokens, clients=clients, items=items)
    s = settings(db=db)
    silent = quiet or fmt_ is Format.json
    with Ledger(s.db_url) as ledger:
        with Reporter("bench", quiet=silent) as report:

            def progress(label: str) -> Any:
                return lambda done, total, task: report.update(done, total, stage=f"{label}: eval {task}")

            result = run_bench(specs, workload, ledger, s, prices=prices, say=report.stage, eval_progress=progress)
        folder = out if out is not None else s.report_dir / f"bench-{result.run_id}"
        _, paths = render_run(ledger, result.run_id, folder, formats=("json", "html"))
    if fmt_ is Format.json:
        echo_json(
            {
                "run_id": result.run_id,
                "workload": workload.as_dict(),
                "energy": result.energy,
                "rows": result.rows,
                "report": {k: str(v) for k, v in paths.items()},
            }
        )
        return
    show(_grid(result), fmt_)
    if not quiet:
        console.print(f"energy counters: {result.energy}", highlight=False, markup=False, soft_wrap=True)
        console.print(f"report: {paths['html']}", highlight=False, markup=False, soft_wrap=True)
        err_console.print(
            "quality is paired against the first backend (McNemar on the same items); "
            f"concurrency: {', '.join(f'{b.spec.label}: {b.concurrency}' for b in result.backends)}",
            highlight=False,
        )
