"""`warden eval` in one process against the same run on Ray with 1 and with 2 workers, on the default model.

Run: PYTHONPATH=src nice -n 10 .venv/bin/python bench/ray_eval.py [--suite quality] [--limit 6] [--threads 0]
     [--out bench/results/ray_eval.json]

One subset (--limit items per task of --suite) runs three times into fresh SQLite ledgers with the cache off:
  in-process  the model loaded here (--threads; 0: chosen per call from the load, as `warden eval` does), then run_eval
  ray x1      run_eval_ray, one actor (its threads chosen as in-process)
  ray x2      run_eval_ray, two actors of one thread each (on two cores)
Each wall time counts loading the model (the actors load theirs while the clock runs); starting the local Ray cluster
is timed apart (a cluster given by address costs nothing). Printed: wall times, ratios to the in-process run, and
how many stored items are identical (input, output and scores) to the in-process run's.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import ray

from weightwarden.eval import load_suite, run_eval
from weightwarden.eval.ray_runner import run_eval_ray
from weightwarden.ledger import Ledger, ModelRecord
from weightwarden.runtimes import load_runtime
from weightwarden.runtimes.artifact import resolve
from weightwarden.runtimes.platform_info import platform_info
from weightwarden.runtimes.threads import usable_cores


def items_of(ledger: Ledger, run_id: str) -> dict[str, Any]:
    return {it.key: (it.input, it.output, it.scores) for it in ledger.items(run_id)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--suite", default="quality")
    ap.add_argument("--limit", type=int, default=6)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "ray_eval.json")
    args = ap.parse_args()
    model = resolve("default")
    tasks = load_suite(args.suite)
    work = Path(tempfile.mkdtemp(prefix="ray-eval-bench-"))
    runs: dict[str, dict[str, Any]] = {}
    items: dict[str, dict[str, Any]] = {}
    load_before = os.getloadavg()

    def ledger_for(name: str) -> Ledger:
        ledger = Ledger(f"sqlite:///{work / (name + '.db')}")
        ledger.upsert_model(ModelRecord.of(model))
        return ledger

    with ledger_for("inproc") as ledger:
        t0 = time.perf_counter()
        rt = load_runtime(model, threads=args.threads)
        try:
            result = run_eval(rt, model.sha256, tasks, ledger, limit=args.limit, use_cache=False)
        finally:
            rt.close()
        runs["in-process"] = {"seconds": time.perf_counter() - t0, "workers": 0}
        items["in-process"] = items_of(ledger, result.run_id)
    t0 = time.perf_counter()
    os.environ.update({"RAY_enable_worker_prestart": "0", "RAY_prestart_worker_first_driver": "0"})
    ray.init(
        address="local",
        num_cpus=usable_cores(),
        object_store_memory=128 * 1024 * 1024,
        include_dashboard=False,
        log_to_driver=False,
        logging_level=logging.WARNING,
    )
    ray_start = time.perf_counter() - t0
    try:
        for workers in (1, 2):
            name = f"ray x{workers}"
            with ledger_for(f"ray{workers}") as ledger:
                t0 = time.perf_counter()
                result = run_eval_ray(
                    model, tasks, ledger, workers=workers, threads=args.threads, limit=args.limit, use_cache=False
                )
                runs[name] = {"seconds": time.perf_counter() - t0, "workers": workers}
                items[name] = items_of(ledger, result.run_id)
                (event,) = [e.payload for e in ledger.events(result.run_id) if e.kind == "eval.ray"]
                runs[name]["threads_per_worker"] = event["threads"]
    finally:
        ray.shutdown()
    base = runs["in-process"]["seconds"]
    ref = items["in-process"]
    for name, r in runs.items():
        r["ratio_to_in_process"] = r["seconds"] / base
        same = sum(1 for k, v in items[name].items() if ref.get(k) == v)
        same_scores = sum(1 for k, v in items[name].items() if k in ref and ref[k][2] == v[2])
        r |= {"items": len(items[name]), "identical_items": same, "identical_scores": same_scores}
        r["same_order"] = list(items[name]) == list(ref)
    info = platform_info(threads=args.threads).as_dict()
    out = {
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"cpu": info.get("cpu_model"), "cores": usable_cores(), "host": platform.node()},
        "suite": args.suite,
        "limit": args.limit,
        "threads_setting": args.threads,
        "ray_local_start_seconds": ray_start,
        "load_average_before": load_before,
        "load_average_after": os.getloadavg(),
        "runs": runs,
    }
    print(f"{'run':<12} {'workers':>7} {'seconds':>8} {'ratio':>6} {'identical items':>16} {'same order':>10}")
    for name, r in runs.items():
        print(
            f"{name:<12} {r['workers']:>7} {r['seconds']:>8.1f} {r['ratio_to_in_process']:>6.2f} "
            f"{r['identical_items']:>8}/{r['items']:<7} {r['same_order']!s:>10}"
        )
    print(f"local Ray start: {ray_start:.1f} s (not in the times above); load average {load_before} -> now")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
