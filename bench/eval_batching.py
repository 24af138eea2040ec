"""Batched against one-request-at-a-time evaluation in `warden eval`'s runner, on the built-in tasks.

Run: PYTHONPATH=src .venv/bin/python bench/eval_batching.py [--part scoring|generation] [--limit 40]
     [--batch-size 16] [--threads 2] [--backends llama.cpp,transformers] [--json] [--out FILE]

Each backend loads the default model once; then the same tasks run through run_eval twice into fresh SQLite
ledgers with the request cache off: --batch-size 0 (every request alone) and --batch-size N. The order
alternates per repeat so neither side always runs on a warm machine. Printed: wall time of each, the ratio, and
how many stored item scores (and, for generation, answers) are identical between the two runs.
--part scoring: every log-likelihood task (world_mc, reading, bbq, pairs); the scores must all be identical.
--part generation (llama.cpp only): the generation tasks (arithmetic, instructions, refusal), with
--batch-generations on the batched side; batched greedy decoding changes the shapes of llama.cpp's sums, so a near
tie can go the other way and some answers differ (which is why `warden eval` leaves it off by default).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from weightwarden.eval import load_run_items, load_suite, run_eval
from weightwarden.eval.suites import EvalTask
from weightwarden.ledger import Ledger, ModelRecord
from weightwarden.runtimes import load_runtime
from weightwarden.runtimes.artifact import resolve

PARTS = {
    "scoring": ("quality.world_mc", "quality.reading", "bias.bbq", "bias.pairs"),
    "generation": ("quality.arithmetic", "quality.instructions", "safety.refusal"),
}


def one_run(runtime: Any, model: Any, tasks: list[EvalTask], limit: int, batch_size: int, work: Path) -> dict[str, Any]:
    db = work / f"b{batch_size}-{time.monotonic_ns()}.db"
    with Ledger(f"sqlite:///{db}") as ledger:
        ledger.upsert_model(ModelRecord.of(model))
        t0 = time.perf_counter()
        result = run_eval(
            runtime,
            model.sha256,
            tasks,
            ledger,
            limit=limit,
            use_cache=False,
            batch_size=batch_size,
            batch_generations=batch_size > 0,
        )
        seconds = time.perf_counter() - t0
        items = load_run_items(ledger, result.run_id)
    scores = {f"{t}/{i}": s.scores for t, by_id in items.items() for i, s in by_id.items()}
    texts = {f"{t}/{i}": s.output.get("text") for t, by_id in items.items() for i, s in by_id.items()}
    return {"seconds": seconds, "requests": result.requests, "scores": scores, "texts": texts}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--part", choices=sorted(PARTS), default="scoring", help="Which tasks (default scoring).")
    ap.add_argument("--limit", type=int, default=40, help="Items per task (default 40).")
    ap.add_argument("--batch-size", type=int, default=16, help="Items per batch on the batched side (default 16).")
    ap.add_argument("--threads", type=int, default=2, help="CPU threads for both backends (default 2).")
    ap.add_argument("--repeats", type=int, default=2, help="Runs of each side per backend (default 2); best is kept.")
    ap.add_argument("--backends", default="llama.cpp,transformers")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--out", type=Path, default=None, help="Also write the summary as JSON here.")
    args = ap.parse_args()
    model = resolve("default")
    tasks = [t for t in load_suite("all") if t.id in PARTS[args.part]]
    summary: dict[str, Any] = {
        "part": args.part,
        "tasks": [t.id for t in tasks],
        "limit": args.limit,
        "batch_size": args.batch_size,
        "threads": args.threads,
    }
    with tempfile.TemporaryDirectory(prefix="ww-batching-") as tmp:
        for backend in args.backends.split(","):
            runtime = load_runtime(model, backend, threads=args.threads)  # type: ignore[arg-type]
            runtime.loglikelihood("Warm", " up")  # the scoring copy loads on first use: not part of either side
            best: dict[int, dict[str, Any]] = {}
            for r in range(args.repeats):
                sides = (0, args.batch_size) if r % 2 == 0 else (args.batch_size, 0)
                for size in sides:
                    run = one_run(runtime, model, tasks, args.limit, size, Path(tmp))
                    print(f"{backend} batch {size}: {run['seconds']:.1f} s", file=sys.stderr)
                    if size not in best or run["seconds"] < best[size]["seconds"]:
                        best[size] = run
            runtime.close()
            single, batched = best[0], best[args.batch_size]
            same = sum(batched["scores"].get(k) == v for k, v in single["scores"].items())
            # Right/wrong and preference outcomes; real-valued scores (diff_per_token) may differ in the 6th decimal.
            same_outcome = sum(
                {m: x for m, x in batched["scores"].get(k, {}).items() if x in (0, 1)}
                == {m: x for m, x in v.items() if x in (0, 1)}
                for k, v in single["scores"].items()
            )
            same_text = sum(batched["texts"].get(k) == v for k, v in single["texts"].items())
            summary[backend] = {
                "requests": single["requests"],
                "unbatched_s": round(single["seconds"], 2),
                "batched_s": round(batched["seconds"], 2),
                "speedup": round(single["seconds"] / batched["seconds"], 2),
                "items": len(single["scores"]),
                "identical_item_scores": same,
                "identical_outcomes": same_outcome,
                "identical_answers": same_text,
            }
    if args.out is not None:
        args.out.write_text(json.dumps(summary, indent=2) + "\n")
    if args.json:
        print(json.dumps(summary, indent=2))
        return
    print(f"tasks {', '.join(summary['tasks'])}; {args.limit} items each; best of {args.repeats}")
    print(
        f"{'backend':14} {'requests':>9} {'one at a time s':>16} {'batched s':>10} {'speed-up':>9} "
        f"{'same scores':>12} {'same outcomes':>14} {'same answers':>13}"
    )
    for backend in args.backends.split(","):
        r = summary[backend]
        print(
            f"{backend:14} {r['requests']:>9} {r['unbatched_s']:>16.1f} {r['batched_s']:>10.1f} "
            f"{r['speedup']:>8.2f}x {r['identical_item_scores']:>6}/{r['items']} "
            f"{r['identical_outcomes']:>8}/{r['items']} "
            f"{r['identical_answers']:>7}/{r['items']}"
        )


if __name__ == "__main__":
    main()
