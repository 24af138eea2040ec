"""The monitor's targets: power and false alarms of `warden monitor drift`, and the time of a usage rollup.

Run: PYTHONPATH=src nice -n 10 .venv/bin/python bench/monitor.py [--windows 200] [--rows 1000000] [--write]

Power: prompts are drawn from data/monitor/traffic.yaml (five topics of a support and writing assistant; travel is
the new topic) and embedded once with the bundled all-MiniLM-L6-v2 (int8-quantized as the sketches store them).
The reference is 1,000 requests of the usual mix; each current window is 500 requests, either of the same mix (a
false alarm if drift is called) or with 20% of its traffic moved to travel (a detection if it is called). Drift is
the report's verdict over its multivariate tests (domain classifier and MMD, Holm-adjusted, alpha 0.05). Rates come
with 95% Wilson intervals.

Peer (--peer evidently, the default when Evidently imports; bench/evidently_drift.py says how it is called): on the
same reference and the same current windows, in the same loop, Evidently's EmbeddingsDrift with its default method
(for a reference of 1,000 rows: an SGD domain classifier, drift when its held-out ROC AUC is above 0.55), and its MMD
method for reference. Each tool's rates, seconds per window (wall and CPU), and how often the verdicts agree.

Scale: --rows audit rows are bulk-inserted into a fresh SQLite ledger, then `usage` is timed grouped by
key,model,day and with no groups; the baseline, timed in the same run, is a bare SELECT count(*) over the table.
--write stores the results in bench/results/monitor.json with the command and the date.
"""

from __future__ import annotations

# ruff: noqa: E402  (thread counts must be set before numpy and torch load)
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # two shared cores: oversubscribed BLAS threads only spin

import argparse
import json
import platform
import random
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import sqlalchemy as sa

import evidently_drift
from drift_traffic import BASE, Pool, embed_pool
from drift_traffic import windows as drift_windows
from weightwarden.formulas.proportion import wilson_interval
from weightwarden.ledger import Ledger, RequestRecord
from weightwarden.ledger import schema as tables
from weightwarden.ledger.records import utcnow
from weightwarden.ledger.store import new_run_id
from weightwarden.monitor.drift import Sample, compare
from weightwarden.monitor.rollup import usage
from weightwarden.monitor.simulate import Traffic
from weightwarden.monitor.window import parse_window


def sample(x: np.ndarray, texts: list[str]) -> Sample:
    return Sample(
        requests=len(x),
        metrics={},
        embeddings=x,
        texts=texts,  # type: ignore[arg-type]  (list is invariant: str is a str | None here)
        refusals=np.zeros(0, bool),
        languages=[],
    )


def _rates(calls: dict[str, list[bool]], cpu_s: float, wall_s: float) -> dict[str, Any]:
    """Detection and false-alarm rates with 95% Wilson intervals, and the seconds one window's test took."""
    windows = len(calls["shift"])
    detected, alarms = sum(calls["shift"]), sum(calls["null"])
    return {
        "detection_rate": detected / windows,
        "detection_rate_ci95": wilson_interval(detected, windows),
        "false_alarm_rate": alarms / windows,
        "false_alarm_rate_ci95": wilson_interval(alarms, windows),
        "seconds_per_window": wall_s / (2 * windows),
        "cpu_seconds_per_window": cpu_s / (2 * windows),
    }


def _agreement(ours: dict[str, list[bool]], theirs: dict[str, list[bool]]) -> dict[str, Any]:
    """Per window, whether each tool called drift: counts of both, only one, neither, by kind of window."""
    out: dict[str, Any] = {}
    for kind in ("shift", "null"):
        pairs = list(zip(ours[kind], theirs[kind], strict=True))
        out[kind] = {
            "both": sum(a and b for a, b in pairs),
            "ours_only": sum(a and not b for a, b in pairs),
            "evidently_only": sum(b and not a for a, b in pairs),
            "neither": sum(not a and not b for a, b in pairs),
        }
    same = sum(out[k]["both"] + out[k]["neither"] for k in ("shift", "null"))
    out["agree"], out["windows"] = same, 2 * len(ours["shift"])
    return out


def power(
    windows: int,
    size: int,
    shift: float,
    permutations: int,
    seed: int,
    *,
    peer: bool = False,
    report_check: int = 1,
    pool: Pool | None = None,
    reference_size: int = 1000,
) -> dict[str, Any]:
    """Our drift verdict on `windows` unshifted and `windows` shifted windows, and with peer, Evidently's on the same.

    report_check: for this many first window pairs, also run Evidently's full Report and record whether it gives
    the score and verdict of the direct call. pool: embedded prompts to draw from (default: 6,000 + 1,500 embedded
    here).
    """
    pool = pool if pool is not None else embed_pool(6000, 1500, seed)
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(pool.base))
    ref_idx, rest = order[:reference_size], order[reference_size:]
    reference = sample(pool.base[ref_idx], [pool.base_texts[i] for i in ref_idx])
    ref_x = reference.embeddings
    tools = ("ours", "evidently", "evidently mmd") if peer else ("ours",)
    calls: dict[str, dict[str, list[bool]]] = {t: {"null": [], "shift": []} for t in tools}
    cpu, wall = dict.fromkeys(tools, 0.0), dict.fromkeys(tools, 0.0)
    per_test: dict[str, dict[str, int]] = {"null": {}, "shift": {}}
    checks: list[dict[str, Any]] = []
    t0 = time.perf_counter()
    for cur in drift_windows(pool, rest, rng, windows, size, shift):
        c, t = time.process_time(), time.perf_counter()
        report = compare(
            reference,
            sample(cur.embeddings, [""] * len(cur.embeddings)),
            permutations=permutations,
            univariate=False,
            explain=False,
            seed=seed + cur.index,
        )
        cpu["ours"] += time.process_time() - c
        wall["ours"] += time.perf_counter() - t
        calls["ours"][cur.kind].append(report.drifted)
        for test in report.tests:
            count = per_test[cur.kind].get(test.name, 0) + int(test.p_adjusted < report.alpha)
            per_test[cur.kind][test.name] = count
        if peer:
            for tool, verdict in (
                ("evidently", evidently_drift.embedding_drift(ref_x, cur.embeddings)),
                ("evidently mmd", evidently_drift.mmd_drift(ref_x, cur.embeddings)),
            ):
                calls[tool][cur.kind].append(verdict.drifted)
                cpu[tool] += verdict.cpu_s
                wall[tool] += verdict.wall_s
                if tool == "evidently" and cur.index < report_check:
                    score, drifted = evidently_drift.report_embedding_drift(ref_x, cur.embeddings)
                    checks.append(
                        {
                            "window": cur.index,
                            "kind": cur.kind,
                            "direct": [verdict.score, verdict.drifted],
                            "report": [score, drifted],
                            "same": score == verdict.score and drifted == verdict.drifted,
                        }
                    )
        if cur.kind == "shift" and (cur.index + 1) % 20 == 0:
            seen = ", ".join(f"{t} {sum(calls[t]['shift'])}/{sum(calls[t]['null'])}" for t in tools)
            print(
                f"{cur.index + 1}/{windows} windows: detections/false alarms {seen} ({time.perf_counter() - t0:.0f} s)",
                file=sys.stderr,
            )
    out: dict[str, Any] = {
        "windows": windows,
        "window_size": size,
        "reference_size": len(ref_x),
        "shift": shift,
        "permutations": permutations,
        "method": "compare(): domain classifier (permutation-calibrated) and MMD (permutation p), Holm-adjusted, "
        "drift when either is below alpha 0.05",
        **_rates(calls["ours"], cpu["ours"], wall["ours"]),
        "per_test_detections": per_test["shift"],
        "per_test_false_alarms": per_test["null"],
        "embed_s": pool.embed_s,
        "targets": {"detection_rate": ">= 0.95", "false_alarm_rate": "<= 0.05"},
    }
    if peer:
        out["peer"] = {
            "tool": f"evidently {evidently_drift.available()}",
            "method": evidently_drift.describe_default(len(ref_x)),
            **_rates(calls["evidently"], cpu["evidently"], wall["evidently"]),
            "mmd": {
                "method": "MMDDriftMethod defaults: unbiased MMD^2 with a median-heuristic RBF kernel, drift when "
                "above 0.015 (not the metric's default; for reference)",
                **_rates(calls["evidently mmd"], cpu["evidently mmd"], wall["evidently mmd"]),
            },
            "report_check": checks,
        }
        out["agreement"] = _agreement(calls["ours"], calls["evidently"])
    return out


def print_side_by_side(result: dict[str, Any]) -> None:
    """The two tools' rates on one line each (stderr)."""

    def line(name: str, r: dict[str, Any]) -> str:
        d, f = r["detection_rate_ci95"], r["false_alarm_rate_ci95"]
        return (
            f"{name:<28} detection {r['detection_rate']:.3f} [{d[0]:.3f}, {d[1]:.3f}]  false alarms "
            f"{r['false_alarm_rate']:.3f} [{f[0]:.3f}, {f[1]:.3f}]  {r['seconds_per_window']:.3f} s/window"
        )

    print(line("ours", result), file=sys.stderr)
    if "peer" in result:
        peer, agreement = result["peer"], result["agreement"]
        print(line(f"{peer['tool']} (default)", peer), file=sys.stderr)
        print(line(f"{peer['tool']} mmd", peer["mmd"]), file=sys.stderr)
        print(f"verdicts agree on {agreement['agree']}/{agreement['windows']} windows: {agreement}", file=sys.stderr)


def _fill(ledger: Ledger, rows: int, seed: int) -> float:
    """Bulk-insert simulated audit rows over the last 30 days (the writer keeps the hourly rollup as they go in)."""
    rng = random.Random(seed)
    now = utcnow()
    keys = [new_run_id() for _ in range(50)]
    verdict_sets = [
        {"input": [{"detector": "injection", "label": "clean", "score": 0.1, "action": "allow"}], "output": []},
        {"input": [{"detector": "injection", "label": "injection", "score": 0.9, "action": "flag"}], "output": []},
        {"input": [], "output": [{"detector": "pii", "label": "pii", "score": 0.8, "action": "redact"}]},
        {},
    ]
    t0 = time.perf_counter()
    chunk = 50_000
    for start in range(0, rows, chunk):
        batch = [
            RequestRecord(
                request_id=new_run_id(),
                time=now - timedelta(seconds=rng.uniform(0, 30 * 86400)),
                route="/v1/chat/completions",
                status=rng.choice((200, 200, 200, 200, 200, 200, 200, 200, 429, 500)),
                key_id=rng.choice(keys),
                model=rng.choice(("default", "tuned", "remote")),
                prompt_tokens=rng.randint(5, 800),
                completion_tokens=rng.randint(0, 300),
                total_ms=rng.lognormvariate(6, 1),
                cost_usd=rng.uniform(0, 0.002),
                verdicts=rng.choice(verdict_sets),
            )
            for _ in range(min(chunk, rows - start))
        ]
        ledger.add_requests(lambda b=batch: b).result()
        print(f"inserted {start + len(batch):,} rows", file=sys.stderr)
    return time.perf_counter() - t0


def _bulk_fill(ledger: Ledger, url: str, rows: int, seed: int) -> dict[str, float]:
    """The same traffic as _fill, written straight through the driver (executemany on SQLite, COPY on PostgreSQL),
    then summed into the hourly tables by m009's backfill, timed: the path of an old ledger that upgrades."""
    from weightwarden.ledger import hourly
    from weightwarden.ledger import schema as tables

    rng = np.random.default_rng(seed)
    now = utcnow()
    keys = np.array([new_run_id() for _ in range(50)])
    verdict_sets = [
        {"input": [{"detector": "injection", "label": "clean", "score": 0.1, "action": "allow"}], "output": []},
        {"input": [{"detector": "injection", "label": "injection", "score": 0.9, "action": "flag"}], "output": []},
        {"input": [], "output": [{"detector": "pii", "label": "pii", "score": 0.8, "action": "redact"}]},
        {},
    ]
    verdict_json = np.array([json.dumps(v) for v in verdict_sets])
    t0 = time.perf_counter()
    ages = rng.uniform(0, 30 * 86400, rows)
    statuses = rng.choice(np.array([200] * 8 + [429, 500]), rows)
    key_col, model_col = (
        keys[rng.integers(0, 50, rows)],
        np.array(["default", "tuned", "remote"])[rng.integers(0, 3, rows)],
    )
    prompt, completion = rng.integers(5, 801, rows), rng.integers(0, 301, rows)
    total_ms, cost = rng.lognormal(6, 1, rows), rng.uniform(0, 0.002, rows)
    verdicts = verdict_json[rng.integers(0, 4, rows)]
    sqlite_db = url.startswith("sqlite")
    times = [now - timedelta(seconds=float(a)) for a in ages]
    cols = (
        "request_id, time, key_id, model, route, status, prompt_tokens, completion_tokens, total_ms, cost_usd, verdicts"
    )
    data = (
        (
            f"R{i:025d}",
            t.replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f") if sqlite_db else t,
            str(key_col[i]),
            str(model_col[i]),
            "/v1/chat/completions",
            int(statuses[i]),
            int(prompt[i]),
            int(completion[i]),
            float(total_ms[i]),
            float(cost[i]),
            str(verdicts[i]),
        )
        for i, t in enumerate(times)
    )
    engine = sa.create_engine(ledger._engine.url)  # the same database, written without the ledger's writer
    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        if sqlite_db:
            cur.executemany(f"INSERT INTO requests ({cols}) VALUES ({','.join('?' * 11)})", data)
        else:
            with cur.copy(f"COPY requests ({cols}) FROM STDIN") as copy:  # type: ignore[attr-defined]
                for row in data:
                    copy.write_row(row)
        raw.commit()
    finally:
        raw.close()
    insert_s = time.perf_counter() - t0
    print(f"inserted {rows:,} rows in {insert_s:.0f} s", file=sys.stderr)
    t0 = time.perf_counter()
    with engine.begin() as conn:
        hourly.backfill(conn, tables.requests, tables.usage_hourly, tables.usage_hourly_guard)
    backfill_s = time.perf_counter() - t0
    print(f"backfilled the hourly tables in {backfill_s:.0f} s", file=sys.stderr)
    engine.dispose()
    return {"insert_s_bulk": insert_s, "backfill_s": backfill_s}


def _agree(before: Any, after: Any) -> dict[str, Any]:
    """The hourly report against the rows' one: exact counts, and the largest relative percentile difference."""
    from weightwarden.ledger import hourly

    old = {tuple(r.group.values()): r for r in before.rows}
    new = {tuple(r.group.values()): r for r in after.rows}
    exact = old.keys() == new.keys() and all(
        (o.requests, o.prompt_tokens, o.completion_tokens, o.errors, o.rate_limited, o.guard)
        == (
            new[k].requests,
            new[k].prompt_tokens,
            new[k].completion_tokens,
            new[k].errors,
            new[k].rate_limited,
            new[k].guard,
        )
        for k, o in old.items()
    )
    worst = 0.0
    for k, o in old.items():
        for p, v in o.latency_ms.items():
            if v and k in new and new[k].latency_ms[p] is not None:
                worst = max(worst, abs(new[k].latency_ms[p] - v) / v)
    return {
        "groups": len(old),
        "counts_tokens_verdicts_equal": exact,
        "usd_abs_diff": abs(before.total.usd - after.total.usd),
        "max_latency_percentile_rel_diff": worst,
        "stated_bound": hourly.RELATIVE_ERROR,
    }


def scale(rows: int, url: str | None, seed: int, backend: str = "sqlite", fill: str = "bulk") -> dict[str, Any]:
    """Time `usage` over `rows` audit rows, from the rows (before m009) and from the hourly rollup (after)."""

    cluster = None
    folder = Path(tempfile.mkdtemp(prefix="warden-bench-"))
    if url is None and backend == "postgresql":
        sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
        from pgcluster import PgCluster, find_bindir

        bindir = find_bindir()
        if bindir is None:
            raise SystemExit("no PostgreSQL server binaries (initdb, pg_ctl): apt-get install -y postgresql")
        cluster = PgCluster(bindir)
        cluster.start()
        url = cluster.fresh_url()
    url = url or f"sqlite:///{folder / 'ledger.db'}"
    try:
        with Ledger(url) as ledger:
            if fill == "writer":
                filled: dict[str, float] = {"insert_s_with_hourly_upkeep": _fill(ledger, rows, seed)}
            else:
                filled = _bulk_fill(ledger, url, rows, seed)
            window = parse_window("30d")
            cpu: dict[str, float] = {}
            wall: dict[str, float] = {}

            def timed(name: str, fn: Any) -> Any:
                # CPU time too: SQLite runs in this process, and on a shared machine the wall clock mostly
                # measures the other processes (for PostgreSQL the server's CPU is not in it).
                t, c = time.perf_counter(), time.process_time()
                out = fn()
                cpu[name], wall[name] = time.process_time() - c, time.perf_counter() - t
                print(f"{name}: {wall[name]:.2f} s wall, {cpu[name]:.2f} s CPU", file=sys.stderr)
                return out

            timed("count", lambda: ledger.query("count", sa.select(sa.func.count()).select_from(tables.requests)))
            hourly_rows = ledger.query("n", sa.select(sa.func.count()).select_from(tables.usage_hourly))[0]
            by = ("key", "model", "day")
            after = timed("hourly_key_model_day", lambda: usage(ledger, window, by, source="hourly"))
            after_total = timed("hourly_total", lambda: usage(ledger, window, (), source="hourly"))
            before = timed("rows_key_model_day", lambda: usage(ledger, window, by, source="rows"))
            before_total = timed("rows_total", lambda: usage(ledger, window, (), source="rows"))
            in_window = before.total.requests
    finally:
        if cluster is not None:
            cluster.stop()
    return {
        "rows": rows,
        "rows_in_window": in_window,
        "hourly_total_requests_equal": after_total.total.requests == in_window == after.total.requests,
        "backend": url.split(":", 1)[0].split("+")[0],
        "usage_hourly_rows": next(iter(hourly_rows.values())),
        "fill": fill,
        **filled,
        "wall_s": wall,
        "cpu_s_this_process": cpu,
        "before_rows_s": {"key_model_day": wall["rows_key_model_day"], "total": wall["rows_total"]},
        "after_hourly_s": {"key_model_day": wall["hourly_key_model_day"], "total": wall["hourly_total"]},
        "speedup_key_model_day": wall["rows_key_model_day"] / wall["hourly_key_model_day"],
        "speedup_total": wall["rows_total"] / wall["hourly_total"],
        "agreement_key_model_day": _agree(before, after),
        "agreement_total": _agree(before_total, after_total),
        "load_average_1m": os.getloadavg()[0],
        "target": "usage over 1,000,000 rows <= 5 s",
    }


def overhead(calls: int, seed: int) -> dict[str, Any]:
    """What a request pays for its sketch on the request path: one SketchWorker.submit call, timed one by one.

    The worker runs as in the gateway (embedding in its own thread); the baseline, timed in the same run, is an empty
    function call. What the embedding thread costs other requests in CPU is not in this figure.
    """
    from weightwarden.monitor.worker import SketchWorker

    rng = random.Random(seed)
    prompts = [p for _, p in Traffic.bundled().prompts(dict.fromkeys(BASE, 1.0), calls, rng)]
    records = [
        RequestRecord(request_id=new_run_id(), time=utcnow(), route="/v1/chat/completions", status=200, model="x")
        for _ in range(calls)
    ]
    folder = Path(tempfile.mkdtemp(prefix="warden-bench-"))
    with Ledger(f"sqlite:///{folder / 'ledger.db'}") as ledger:
        worker = SketchWorker(ledger, embedder=None, max_pending=calls + 1)

        def nothing(record: RequestRecord, prompt: str, answer: str) -> None:
            return None

        timings: dict[str, list[float]] = {"submit": [], "baseline": []}
        for name, fn in (("baseline", nothing), ("submit", worker.submit)):
            for record, prompt in zip(records, prompts, strict=True):
                t = time.perf_counter_ns()
                fn(record, prompt, "Sure, here is how.")
                timings[name].append((time.perf_counter_ns() - t) / 1000)
        worker.flush()
        worker.close()
    p50 = {k: float(np.percentile(v, 50)) for k, v in timings.items()}
    p99 = {k: float(np.percentile(v, 99)) for k, v in timings.items()}
    return {
        "calls": calls,
        "submit_p50_us": p50["submit"],
        "submit_p99_us": p99["submit"],
        "baseline_call_p50_us": p50["baseline"],
        "sketches_written": worker.written,
        "target": "the sketch adds <= 1 ms p50 to a request",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--windows", type=int, default=200)
    parser.add_argument("--size", type=int, default=500)
    parser.add_argument("--shift", type=float, default=0.2)
    parser.add_argument("--permutations", type=int, default=100)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--url", help="a ledger URL for the scale test (default: a fresh SQLite file)")
    parser.add_argument(
        "--backends",
        default="sqlite",
        help="scale test on these, comma-separated: sqlite, postgresql (a throwaway cluster, as tests/pgcluster.py)",
    )
    parser.add_argument(
        "--fill",
        choices=("bulk", "writer"),
        default="bulk",
        help="scale rows: bulk (driver insert, then m009's backfill, timed) or writer (Ledger.add_requests, "
        "which keeps the hourly tables as it goes; slower)",
    )
    parser.add_argument(
        "--peer",
        choices=("evidently", "none"),
        help="run Evidently's embedding drift on the same windows (default: evidently when it imports)",
    )
    parser.add_argument(
        "--report-check",
        type=int,
        default=1,
        help="window pairs also run through Evidently's full Report (t-SNE included) to check the direct call",
    )
    parser.add_argument("--skip-power", action="store_true")
    parser.add_argument("--skip-scale", action="store_true")
    parser.add_argument("--skip-overhead", action="store_true")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--write", action="store_true", help="store the results in bench/results/monitor.json")
    parser.add_argument("--scale-out", type=Path, help="also write the scale results alone to this JSON file")
    args = parser.parse_args()
    result: dict[str, Any] = {
        "command": "python bench/monitor.py " + " ".join(sys.argv[1:]),
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "cpu": platform.processor() or platform.machine(),
            "cores": os.cpu_count(),
            "host": platform.node(),
            "python": platform.python_version(),
        },
    }
    if not args.skip_power:
        version = evidently_drift.available()
        if args.peer == "evidently" and version is None:
            raise SystemExit(f"--peer evidently: Evidently is not installed: {evidently_drift.INSTALL}")
        if args.peer is None and version is None:
            print(f"Evidently is not installed, so no peer figures: {evidently_drift.INSTALL}", file=sys.stderr)
        peer = version is not None and args.peer != "none"
        result["power"] = power(
            args.windows, args.size, args.shift, args.permutations, args.seed, peer=peer, report_check=args.report_check
        )
        result["power"]["load_average_1m"] = os.getloadavg()[0]
        print(json.dumps(result["power"], indent=2))
        print_side_by_side(result["power"])
    if not args.skip_scale:
        runs = {b: scale(args.rows, args.url, args.seed, b, args.fill) for b in args.backends.split(",")}
        result["scale"] = runs if len(runs) > 1 else next(iter(runs.values()))
        print(json.dumps(result["scale"], indent=2))
    if not args.skip_overhead:
        result["overhead"] = overhead(10_000, args.seed)
        print(json.dumps(result["overhead"], indent=2))
    if args.scale_out and "scale" in result:
        stamp = {k: result[k] for k in ("command", "date", "machine")}
        args.scale_out.write_text(json.dumps({**stamp, "scale": result["scale"]}, indent=2) + "\n")
        print(f"wrote {args.scale_out}", file=sys.stderr)
    if args.write:
        out = Path(__file__).parent / "results" / "monitor.json"
        # Power and scale can be run apart: keep the other part's last figures (each has its own command and date).
        kept = json.loads(out.read_text()) if out.exists() else {}
        part = {k: v for k, v in result.items() if k in ("power", "scale", "overhead")}
        stamp = {k: result[k] for k in ("command", "date", "machine")}
        merged = {**kept, **{k: {**v, **stamp} for k, v in part.items()}}
        out.write_text(json.dumps(merged, indent=2) + "\n")
        print(f"wrote {out}", file=sys.stderr)


if __name__ == "__main__":
    main()
