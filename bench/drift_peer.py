"""Our drift verdicts beside Evidently's, on the same reference and current windows, in the same process.

Run: PYTHONPATH=src nice -n 10 .venv/bin/python bench/drift_peer.py [--windows 20] [--size 500] [--out FILE]

Evidently (pip install evidently==0.7.23; a bench-only dependency, see pyproject's `peer` extra: it brings pandas,
pyarrow, plotly, statsmodels, nltk and a web stack, but no torch) is the peer. The data is bench/monitor.py's:
prompts from data/monitor/traffic.yaml embedded with the bundled all-MiniLM-L6-v2 and int8-quantized as the sketches
store them; a reference of 1,000 requests of the usual mix, and current windows of --size requests, either of the
same mix (no shift: a call is a false alarm) or with 20% of the traffic moved to the new travel topic (a clear
shift: a call is a detection).

On each pair of windows:
- embeddings: ours is `compare`'s domain classifier (permutation-calibrated) and MMD (permutation p-value), Holm-
  adjusted with the other tests; Evidently's are the drift methods its EmbeddingsDrift metric runs, with their
  defaults: `model` (SGD classifier ROC AUC; bootstrap threshold when the reference is under 1,000 rows, else 0.55)
  and `mmd` (unbiased MMD^2 against 0.015). Evidently's embedding methods give a score and a verdict, no p-value.
- lengths (prompt characters): ours is the Kolmogorov-Smirnov test of `compare` (p, Holm-adjusted); Evidently's is
  its default numeric stattest for a reference of at most 1,000 rows, the same two-sample KS (p at 0.05).
The methods are called directly, as Evidently's metric calls them, so both sides see identical arrays.
"""

from __future__ import annotations

# ruff: noqa: E402  (thread counts must be set before numpy and torch load)
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse
import json
import platform
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

import evidently_drift
from drift_traffic import embed_pool
from drift_traffic import windows as drift_windows
from weightwarden.monitor.drift import Sample, compare


def evidently_verdicts(
    ref_x: np.ndarray, cur_x: np.ndarray, ref_len: np.ndarray, cur_len: np.ndarray
) -> dict[str, Any]:
    """Evidently's embedding drift methods (the metric's default, `model`, and `mmd`) and its KS stattest."""
    import pandas as pd
    from evidently.legacy.calculations.stattests import get_stattest
    from evidently.legacy.core import ColumnType

    model = evidently_drift.embedding_drift(ref_x, cur_x)
    mmd = evidently_drift.mmd_drift(ref_x, cur_x)
    ks = get_stattest(pd.Series(ref_len), pd.Series(cur_len), ColumnType.Numerical, "ks")
    p, ks_drift = ks.func(pd.Series(ref_len), pd.Series(cur_len), ColumnType.Numerical, 0.05)
    return {
        "embedding: model": {"score": model.score, "drifted": model.drifted},
        "embedding: mmd": {"score": mmd.score, "drifted": mmd.drifted},
        "prompt chars: ks": {"p": float(p), "drifted": bool(ks_drift)},
        "drifted": model.drifted or mmd.drifted,
    }


def our_verdicts(
    ref_x: np.ndarray, cur_x: np.ndarray, ref_len: np.ndarray, cur_len: np.ndarray, permutations: int, seed: int
) -> dict[str, Any]:
    """compare() on embeddings and prompt lengths (Holm over the three tests)."""

    def sample(x: np.ndarray, lengths: np.ndarray) -> Sample:
        return Sample(
            requests=len(x),
            metrics={"prompt chars": lengths.astype(float)},
            embeddings=x,
            texts=[None] * len(x),
            refusals=np.zeros(0, bool),
            languages=[],
        )

    report = compare(
        sample(ref_x, ref_len), sample(cur_x, cur_len), permutations=permutations, explain=False, seed=seed
    )
    tests = {t.name: t for t in report.tests}
    out: dict[str, Any] = {
        name: {"p": tests[name].p_value, "p_holm": tests[name].p_adjusted, "drifted": tests[name].p_adjusted < 0.05}
        for name in tests
    }
    embedding = [n for n in tests if n.startswith("embedding")]
    out["drifted"] = any(out[n]["drifted"] for n in embedding)
    return out


def run(windows: int, size: int, shift: float, permutations: int, seed: int) -> dict[str, Any]:
    pool = embed_pool(3000, 800, seed)
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(pool.base))
    ref_idx, rest = order[:1000], order[1000:]
    ref_x, ref_len = pool.base[ref_idx], pool.base_lengths[ref_idx]
    rows: list[dict[str, Any]] = []
    t0 = time.perf_counter()
    for cur in drift_windows(pool, rest, rng, windows, size, shift):
        ours = our_verdicts(ref_x, cur.embeddings, ref_len, cur.lengths, permutations, seed + cur.index)
        theirs = evidently_verdicts(ref_x, cur.embeddings, ref_len, cur.lengths)
        rows.append({"window": cur.index, "kind": cur.kind, "ours": ours, "evidently": theirs})
        if cur.kind == "shift":
            print(f"{cur.index + 1}/{windows} window pairs ({time.perf_counter() - t0:.0f} s)", file=sys.stderr)

    def rate(kind: str, side: str, key: str = "drifted") -> float:
        picked = [r for r in rows if r["kind"] == kind]
        return sum(bool(r[side][key] if key == "drifted" else r[side][key]["drifted"]) for r in picked) / len(picked)

    summary = {
        "ours": {"detection_rate": rate("shift", "ours"), "false_alarm_rate": rate("null", "ours")},
        "evidently": {"detection_rate": rate("shift", "evidently"), "false_alarm_rate": rate("null", "evidently")},
        "agreement": sum(r["ours"]["drifted"] == r["evidently"]["drifted"] for r in rows) / len(rows),
        "lengths_ks_agreement": sum(
            (r["ours"]["prompt chars"]["p"] < 0.05 and r["evidently"]["prompt chars: ks"]["p"] < 0.05)
            or (r["ours"]["prompt chars"]["p"] >= 0.05 and r["evidently"]["prompt chars: ks"]["p"] >= 0.05)
            for r in rows
        )
        / len(rows),
        "lengths_ks_max_abs_p_diff": max(
            abs(r["ours"]["prompt chars"]["p"] - r["evidently"]["prompt chars: ks"]["p"]) for r in rows
        ),
    }
    return {
        "windows": windows,
        "window_size": size,
        "reference_size": len(ref_x),
        "shift": shift,
        "permutations": permutations,
        "summary": summary,
        "per_window": rows,
    }


def print_side_by_side(result: dict[str, Any]) -> None:
    print(
        f"{'win':>3} {'kind':>5} | {'ours clf p':>10} {'ours MMD p':>10} {'ours len p':>10} {'ours':>5} | "
        f"{'ev AUC':>7} {'ev MMD2':>8} {'ev KS p':>8} {'ev':>5}"
    )
    for r in result["per_window"]:
        o, e = r["ours"], r["evidently"]
        print(
            f"{r['window']:>3} {r['kind']:>5} | {o['embedding: domain classifier']['p_holm']:>10.4f} "
            f"{o['embedding: MMD']['p_holm']:>10.4f} {o['prompt chars']['p_holm']:>10.4f} {o['drifted']!s:>5} | "
            f"{e['embedding: model']['score']:>7.3f} {e['embedding: mmd']['score']:>8.4f} "
            f"{e['prompt chars: ks']['p']:>8.4f} {e['drifted']!s:>5}"
        )
    s = result["summary"]
    print(
        f"detections (shift): ours {s['ours']['detection_rate']:.2f}, "
        f"Evidently {s['evidently']['detection_rate']:.2f}; "
        f"false alarms (no shift): ours {s['ours']['false_alarm_rate']:.2f}, "
        f"Evidently {s['evidently']['false_alarm_rate']:.2f}; verdicts agree on {s['agreement']:.0%} of windows; "
        f"length KS verdicts agree on {s['lengths_ks_agreement']:.0%} (largest |p diff| "
        f"{s['lengths_ks_max_abs_p_diff']:.2g})"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--windows", type=int, default=20, help="pairs of current windows (one unshifted, one shifted)")
    ap.add_argument("--size", type=int, default=500)
    ap.add_argument("--shift", type=float, default=0.2)
    ap.add_argument("--permutations", type=int, default=100)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, help="write the JSON result here")
    args = ap.parse_args()
    version = evidently_drift.available()
    if version is None:
        sys.exit(f"Evidently is not installed: {evidently_drift.INSTALL}, then run again")
    result = run(args.windows, args.size, args.shift, args.permutations, args.seed)
    print_side_by_side(result)
    if args.out:
        stamp = {
            "command": "python bench/drift_peer.py " + " ".join(sys.argv[1:]),
            "date": datetime.now(UTC).isoformat(timespec="seconds"),
            "machine": {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count()},
            "evidently": version,
            "load_average_1m": os.getloadavg()[0],
        }
        args.out.write_text(json.dumps({**stamp, **result}, indent=2) + "\n")
        print(f"wrote {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
