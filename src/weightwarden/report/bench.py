"""The report of a bench run (`warden bench`), read from the ledger alone: the workload, one row per backend, and
charts of throughput, first-token latency and cost."""

from __future__ import annotations

from typing import Any

from weightwarden import __version__
from weightwarden.errors import WardenError
from weightwarden.ledger import Ledger
from weightwarden.report.charts import grouped_bars
from weightwarden.runtimes.platform_info import PLATFORM_KEY, describe

BENCH_RUN_KIND = "bench"


def bench_document(ledger: Ledger, run_id: str) -> dict[str, Any]:
    """The report of one bench run as plain JSON types (what report.json holds)."""
    run = ledger.run(run_id)
    if run is None or run.kind != BENCH_RUN_KIND:
        raise WardenError(f"run {run_id} is not a bench run: `warden bench` prints the run id it writes")
    platform = run.config.get(PLATFORM_KEY) or {}
    backends = []
    for item in ledger.items(run_id):
        inp = item.input if isinstance(item.input, dict) else {}
        output = item.output if isinstance(item.output, dict) else {}
        backends.append({**inp, **output})
    backends.sort(key=lambda b: int(b.get("position", 0)))
    rows = (run.summary or {}).get("rows") or []
    base = backends[0] if backends else {}
    return {
        "kind": BENCH_RUN_KIND,
        "version": __version__,
        "run_id": run.id,
        "started_at": run.started_at.isoformat(),
        "ended_at": run.ended_at.isoformat() if run.ended_at else None,
        "status": run.status,
        "model": {"name": base.get("backend", "?"), "sha256": run.model_hash},
        "platform": {**platform, "summary": describe(platform)} if platform else {},
        "workload": run.config.get("workload", {}),
        "energy": run.config.get("energy", ""),
        "prices_per_hour": run.config.get("prices_per_hour", {}),
        "seconds": (run.summary or {}).get("seconds"),
        "rows": rows,
        "backends": backends,
    }


def bench_charts(doc: dict[str, Any]) -> list[str]:
    """The report's SVG charts: tokens/s and TTFT p50 at 1 and N clients, and cost per 1M tokens."""
    rows = doc.get("rows") or []
    if not rows:
        return []
    n = rows[0].get("clients", 1)
    tok = [{"label": r["backend"], "values": {"1 client": r["tok_s_1"], f"{n} clients": r["tok_s_n"]}} for r in rows]
    ttft = [
        {"label": r["backend"], "values": {"1 client": r["ttft_p50_ms_1"], f"{n} clients": r["ttft_p50_ms_n"]}}
        for r in rows
    ]
    cost = [{"label": r["backend"], "values": {"USD per 1M tokens": r.get("usd_per_1m")}} for r in rows]
    return [
        grouped_bars(tok, "Generated tokens per second (higher is better)", "tok/s"),
        grouped_bars(ttft, "Time to first token, p50 (ms, lower is better)", "ms"),
        grouped_bars(cost, "Cost per 1M generated tokens (USD; see each row's source)", "USD"),
    ]


def _num(v: Any, fmt: str) -> str:
    return "-" if not isinstance(v, int | float) or v != v else format(v, fmt)


def bench_table(doc: dict[str, Any]) -> list[list[str]]:
    """The rows of the report's table as text: header first."""
    rows = doc.get("rows") or []
    n = rows[0].get("clients", 1) if rows else 1
    out = [
        [
            "backend",
            "runtime",
            "concurrency",
            "tok/s @1",
            f"tok/s @{n}",
            "TTFT p50/p99 ms @1",
            f"TTFT p50/p99 ms @{n}",
            "429s waited",
            "quality",
            "delta",
            "p",
            "USD/1M tok",
            "cost source",
        ]
    ]
    for r in rows:
        out.append(
            [
                str(r["backend"]),
                str(r["runtime"]),
                str(r.get("concurrency", "")),
                _num(r["tok_s_1"], ".1f"),
                _num(r["tok_s_n"], ".1f"),
                f"{_num(r['ttft_p50_ms_1'], '.0f')}/{_num(r['ttft_p99_ms_1'], '.0f')}",
                f"{_num(r['ttft_p50_ms_n'], '.0f')}/{_num(r['ttft_p99_ms_n'], '.0f')}",
                str(r.get("throttled", 0)),
                f"{_num(r['quality'], '.3f')} (n={r.get('quality_n')})",
                _num(r["quality_delta"], "+.3f"),
                _num(r["quality_p"], ".3g"),
                _num(r.get("usd_per_1m"), ".4f"),
                str(r.get("cost_source", "")),
            ]
        )
    return out


def render_bench_html(doc: dict[str, Any]) -> str:
    """report.html of a bench run: self-contained, no scripts."""
    from weightwarden.report.html import render_template

    return render_template("bench.html.j2", report=doc, table=bench_table(doc), charts=bench_charts(doc))


def render_bench_md(doc: dict[str, Any]) -> str:
    """report.md of a bench run: the header and the table."""
    table = bench_table(doc)
    w = doc.get("workload") or {}
    lines = [
        f"# Bench {doc['run_id']}",
        "",
        f"- {doc['started_at']} · weightwarden {doc.get('version', '?')} · status **{doc['status']}**",
        f"- workload: {len(w.get('prompts', []))} chat prompts x {w.get('max_tokens')} tokens at 1 and "
        f"{w.get('clients')} clients; {w.get('items')} items of {', '.join(w.get('tasks', []))}",
        f"- energy counters: {doc.get('energy') or '-'}",
    ]
    if doc.get("platform"):
        lines.append(f"- ran on: {doc['platform'].get('summary', '')}")
    lines += ["", "| " + " | ".join(table[0]) + " |", "|" + " --- |" * len(table[0])]
    lines += ["| " + " | ".join(c.replace("|", "\\|") for c in row) + " |" for row in table[1:]]
    return "\n".join(lines) + "\n"


__all__ = ["BENCH_RUN_KIND", "bench_charts", "bench_document", "bench_table", "render_bench_html", "render_bench_md"]
