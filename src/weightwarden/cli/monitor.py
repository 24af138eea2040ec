"""`warden monitor usage|drift|check|canary`: what the gateway's ledger says about use, cost, drift and alert rules."""

from __future__ import annotations

import csv
import io
import json
from typing import Annotated

import typer

from weightwarden.cli.canary import canary_cmd
from weightwarden.cli.common import DbOption, JsonOption, settings
from weightwarden.cli.output import Grid, emit, show
from weightwarden.ledger import Ledger
from weightwarden.monitor.drift import DriftReport, drift
from weightwarden.monitor.notify import alert, post, previous_firing
from weightwarden.monitor.record import record_result
from weightwarden.monitor.rollup import GROUPS, UsageReport, UsageRow, usage
from weightwarden.monitor.rules import evaluate, load_rules, widest
from weightwarden.monitor.window import parse_window

app = typer.Typer(
    name="monitor",
    help="Usage, cost, drift and alert rules from the gateway's audit rows; canaries of the served model.",
    no_args_is_help=True,
)
app.command("canary")(canary_cmd)

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
    exact: Annotated[
        bool,
        typer.Option(
            "--exact",
            help="Read every audit row of the window, for exact latency percentiles (slower): by default whole hours "
            "come from the hourly rollup, with p50/p95/p99 within 3.85%.",
        ),
    ] = False,
    db: DbOption = None,
) -> None:
    """Requests, tokens, USD, latency p50/p95/p99, 5xx and 429 rates and guard verdicts, per group, from the ledger."""
    if as_json and as_csv:
        raise typer.BadParameter("--json and --csv disagree: give one", param_hint="--csv")
    window = parse_window(since)
    with Ledger(settings(db=db).db_url) as ledger:
        report = usage(ledger, window, by.split(","), model=model, source="rows" if exact else "auto")
    if as_json:
        typer.echo(json.dumps(report.as_dict(), ensure_ascii=False, indent=2))
    elif as_csv:
        typer.echo(_csv(report), nl=False)
    else:
        show(_table(report))


def _p(value: float) -> str:
    return "<0.001" if value < 0.001 else f"{value:.3f}"


def drift_summary(report: DriftReport) -> dict[str, object]:
    """What the ledger keeps of a drift report: the verdict, each test's adjusted p and effect, what grew."""
    return {
        "drifted": report.drifted,
        "min_p_adjusted": report.min_p,
        "tests": {t.name: {"p_adjusted": t.p_adjusted, "effect": t.effect} for t in report.tests},
        "counts": report.counts,
        "new": [c.terms for c in report.clusters if c.direction == "new"],
    }


def _drift_tables(report: DriftReport) -> None:
    grid = Grid(
        f"drift: {report.current} against {report.reference}",
        ["test", "p", "p (Holm)", "effect", "", "reference", "current"],
        right={"p", "p (Holm)", "effect", "reference", "current"},
    )
    for t in report.tests:
        ref, cur = t.details.get("median_reference"), t.details.get("median_current")
        if "rate_reference" in t.details:
            ref, cur = t.details["rate_reference"], t.details["rate_current"]
        flag = " *" if t.p_adjusted < report.alpha else ""
        grid.add(
            t.name + flag,
            _p(t.p_value),
            _p(t.p_adjusted),
            f"{t.effect:.3f}",
            t.effect_name,
            "" if ref is None else f"{ref:.4g}",
            "" if cur is None else f"{cur:.4g}",
            style="bold" if flag else "",
        )
    show(grid)
    c = report.counts
    verdict = "DRIFT" if report.drifted else "no drift"
    lines = [
        f"{verdict} at alpha {report.alpha} (Holm over {len(report.tests)} tests; * marks the significant ones); "
        f"{c['reference_requests']:,} reference and {c['current_requests']:,} current requests, "
        f"{c['reference_sketched']:,} and {c['current_sketched']:,} with an embedding."
    ]
    for name, why in report.skipped.items():
        lines.append(f"skipped {name}: {why}")
    for cl in report.clusters:
        where = "current prompts unlike the reference" if cl.direction == "new" else "reference prompts now rare"
        terms = ", ".join(cl.terms) or "(no stored text to name it)"
        lines.append(f"{cl.direction}: {cl.share:.1%} of {where}: {terms}")
        lines.extend(f"    e.g. {e}" for e in cl.examples)
    emit("\n".join(lines))


@app.command("drift")
def drift_cmd(
    reference: Annotated[
        str, typer.Option("--reference", help="The reference window: A..B (2026-11-01..2026-11-30 or 30d..7d).")
    ],
    current: Annotated[str, typer.Option("--current", help="The window to test: 7d, 24h, or A..B.")] = "7d",
    model: ModelOption = None,
    alpha: Annotated[float, typer.Option("--alpha", min=0.0001, max=0.5, help="Significance level.")] = 0.05,
    permutations: Annotated[
        int, typer.Option("--permutations", min=19, max=10_000, help="Permutations for the embedding tests.")
    ] = 200,
    fail: Annotated[bool, typer.Option("--fail-on-drift", help="Exit 1 when drift is found (for CI or cron).")] = False,
    as_json: JsonOption = False,
    db: DbOption = None,
) -> None:
    """Has the traffic changed? Embedding tests (domain classifier, MMD) and per-request tests, Holm-corrected."""
    ref_window, cur_window = parse_window(reference), parse_window(current)
    with Ledger(settings(db=db).db_url) as ledger:
        report = drift(ledger, ref_window, cur_window, model=model, alpha=alpha, permutations=permutations)
        config = {"reference": ref_window.as_dict(), "current": cur_window.as_dict(), "model": model, "alpha": alpha}
        record_result(ledger, "drift", config, drift_summary(report), cur_window, model)
    if as_json:
        typer.echo(json.dumps(report.as_dict(), ensure_ascii=False, indent=2))
    else:
        _drift_tables(report)
    if fail and report.drifted:
        raise typer.Exit(1)


@app.command("check")
def check_cmd(
    rules: Annotated[str, typer.Option("--rules", help="The YAML file of alert rules.")],
    webhook: Annotated[
        str | None,
        typer.Option("--webhook", help="POST a JSON alert here when rules start or stop firing.", show_default=False),
    ] = None,
    as_json: JsonOption = False,
    db: DbOption = None,
) -> None:
    """Evaluate alert rules on the ledger now; exit 1 when any rule fires (for cron or CI). Recorded in the ledger."""
    parsed = load_rules(rules)
    with Ledger(settings(db=db).db_url) as ledger:
        before = previous_firing(ledger, rules)
        results = evaluate(ledger, parsed)
        firing = [r.rule.name for r in results if r.firing]
        summary: dict[str, object] = {"firing": firing, "results": [r.as_dict() for r in results]}
        message = alert(results, before)
        if webhook and message is not None:
            summary["webhook_status"] = post(webhook, message)
        record_result(ledger, "check", {"rules": rules}, summary, widest(parsed), None)
    if as_json:
        typer.echo(json.dumps(summary, ensure_ascii=False, indent=2))
    else:
        grid = Grid("alert rules", ["rule", "metric", "window", "value", "threshold", "state"], right={"value"})
        for r in results:
            value = "" if r.value is None else f"{r.value:.4g}"
            state = "FIRING" if r.firing else (r.note or "ok")
            grid.add(
                r.rule.name, r.rule.metric, r.rule.window, value, r.rule.threshold, state, style="bold red" * r.firing
            )
        show(grid)
    if firing:
        raise typer.Exit(1)
