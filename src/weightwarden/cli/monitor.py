"""`warden monitor usage|drift|check`: what the gateway's ledger says about use, cost, drift and alert rules."""

from __future__ import annotations

import csv
import io
import json
from typing import Annotated

import typer

from weightwarden.cli.common import DbOption, JsonOption, settings
from weightwarden.cli.output import Grid, show
from weightwarden.ledger import Ledger
from weightwarden.monitor.rollup import GROUPS, UsageReport, UsageRow, usage
from weightwarden.monitor.window import parse_window

app = typer.Typer(
    name="monitor", help="Usage, cost, drift and alert rules from the gateway's audit rows.", no_args_is_help=True
)

ModelOption = Annotated[str | None, typer.Option("--model", help="Only this public model name.", show_default=False)]

SinceOption = Annotated[
    str, typer.Option("--since", help="The window: 7d, 24h, a date, or A..B (2026-11-01..2026-11-30).")
]
ByOption = Annotated[str, typer.Option("--by", help=f"Group by any of {', '.join(GROUPS)}, comma-separated.")]
CsvOption = Annotated[bool, typer.Option("--csv", help="Print CSV (one line per group; guard counts as JSON).")]


def _ms(value: float | None) -> str:
    return "" if value is None else f"{value:,.0f}"


def _cells(row: UsageRow) -> list[str]:
    guard = ", ".join(f"{k}={v}" for k, v in row.guard.items())
    return [
        f"{row.requests:,}",
        f"{row.tokens:,}",
        f"{row.usd:.4f}",
        _ms(row.latency_ms["p50"]),
        _ms(row.latency_ms["p95"]),
        _ms(row.latency_ms["p99"]),
        f"{row.rate(row.errors):.1%}",
        f"{row.rate(row.rate_limited):.1%}",
        guard,
    ]


def _table(report: UsageReport) -> Grid:
    numbers = ["requests", "tokens", "USD", "p50 ms", "p95 ms", "p99 ms", "5xx", "429"]
    grid = Grid(f"usage {report.window}", [*report.by, *numbers, "guard"], right=numbers)
    for row in report.rows:
        grid.add(*("" if row.group[g] is None else str(row.group[g]) for g in report.by), *_cells(row))
    if report.by:
        grid.add(*(["total"] + [""] * (len(report.by) - 1)), *_cells(report.total), style="bold")
    else:
        grid.add(*_cells(report.total))
    return grid


def _csv(report: UsageReport) -> str:
    out = io.StringIO()
    rows = [r.as_dict() for r in report.rows] if report.by else [report.total.as_dict()]
    fields = [k for k in rows[0] if k != "guard"] + ["guard"] if rows else list(report.by)
    writer = csv.DictWriter(out, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    for r in rows:
        writer.writerow({**r, "guard": json.dumps(r["guard"], sort_keys=True)})
    return out.getvalue()


@app.command("usage")
def usage_cmd(
    since: SinceOption = "7d",
    by: ByOption = "key,model,day",
    model: ModelOption = None,
    as_json: JsonOption = False,
    as_csv: CsvOption = False,
    db: DbOption = None,
) -> None:
    """Requests, tokens, USD, latency p50/p95/p99, 5xx and 429 rates and guard verdicts, per group, from the ledger."""
    if as_json and as_csv:
        raise typer.BadParameter("--json and --csv disagree: give one", param_hint="--csv")
    window = parse_window(since)
    with Ledger(settings(db=db).db_url) as ledger:
        report = usage(ledger, window, by.split(","), model=model)
    if as_json:
        typer.echo(json.dumps(report.as_dict(), ensure_ascii=False, indent=2))
    elif as_csv:
        typer.echo(_csv(report), nl=False)
    else:
        show(_table(report))
