"""Measured quality of the guard: the metrics bench/guard_quality.py computes, and the audit stage that reports them.

metrics.json (committed beside the weights) is written by `bench/guard_quality.py --write`; `guard_stage()` reads
it, checks that it was measured on the weights installed now (by sha256), and states the targets met or missed.
"""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from weightwarden.guard.classifier import LINEAR_FILE, weights_dir

METRICS_FILE = "metrics.json"
TARGETS = {
    "injection": {"recall": 0.90, "fpr": 0.02},
    "jailbreak": {"recall": 0.90, "fpr": 0.02},
    "pii": {"recall": 0.98},
    "secrets": {"recall": 0.98},
}


def binary_metrics(
    pos: list[float] | np.ndarray, neg: list[float] | np.ndarray, threshold: float = 0.5
) -> dict[str, Any]:
    """Precision, recall, F1 and false-positive rate at `threshold`, and recall at 1% FPR (best threshold on `neg`)."""
    p = np.asarray(pos, dtype=np.float64)
    n = np.asarray(neg, dtype=np.float64)
    tp = int((p >= threshold).sum())
    fn = len(p) - tp
    fp = int((n >= threshold).sum())
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / len(p) if len(p) else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "positives": len(p),
        "negatives": len(n),
        "tp": tp,
        "fn": fn,
        "fp": fp,
        "precision": round(precision, 4),
        "recall": round(recall, 4),
        "f1": round(f1, 4),
        "fpr": round(fp / len(n), 4) if len(n) else 0.0,
        "recall_at_1pct_fpr": round(recall_at_fpr(p, n, 0.01), 4),
        "auc": round(auc(p, n), 4),
    }


def recall_at_fpr(pos: np.ndarray, neg: np.ndarray, fpr: float) -> float:
    """Recall at the lowest threshold that keeps the false-positive rate at or below `fpr` (ties count as positives)."""
    if not len(pos):
        return 0.0
    if not len(neg):
        return 1.0
    allowed = math.floor(fpr * len(neg))
    ranked = np.sort(neg)[::-1]
    # a threshold strictly above the (allowed+1)-th highest negative score lets at most `allowed` negatives through
    cut = ranked[allowed] if allowed < len(ranked) else -np.inf
    return float((pos > cut).mean())


def auc(pos: np.ndarray, neg: np.ndarray) -> float:
    """Area under the ROC curve (probability a positive outscores a negative, ties half)."""
    if not len(pos) or not len(neg):
        return 0.0
    allv = np.concatenate([pos, neg])
    order = allv.argsort(kind="mergesort")
    ranks = np.empty(len(allv))
    sorted_v = allv[order]
    i = 0
    while i < len(allv):
        j = i
        while j + 1 < len(allv) and sorted_v[j + 1] == sorted_v[i]:
            j += 1
        ranks[order[i : j + 1]] = (i + j) / 2 + 1
        i = j + 1
    r_pos = ranks[: len(pos)].sum()
    return float((r_pos - len(pos) * (len(pos) + 1) / 2) / (len(pos) * len(neg)))


def metrics_path() -> Path:
    return weights_dir() / METRICS_FILE


def weights_sha256() -> str:
    return hashlib.sha256((weights_dir() / LINEAR_FILE).read_bytes()).hexdigest()


def check_targets(metrics: dict[str, Any]) -> list[str]:
    """Each target the measured default layers miss, as a sentence with the number."""
    missed = []
    detectors = metrics.get("detectors", {})
    for name, target in TARGETS.items():
        m = detectors.get(name)
        if m is None:
            missed.append(f"{name}: not measured")
            continue
        if m["recall"] < target["recall"]:
            missed.append(f"{name} recall {m['recall']:.3f} < {target['recall']}")
        if "fpr" in target and m["fpr"] > target["fpr"]:
            missed.append(f"{name} false-positive rate {m['fpr']:.3f} > {target['fpr']}")
    return missed


def guard_stage() -> dict[str, Any]:
    """The guard's measured quality for `warden audit`: {status, summary, rows, data}.

    status is ok when every target is met on the weights installed now, warn when a target is missed or the
    metrics were measured on other weights, fail when the metrics or the weights are missing.
    """
    path = metrics_path()
    try:
        metrics = json.loads(path.read_text(encoding="utf-8"))
        current = weights_sha256()
    except (OSError, ValueError) as exc:
        return {
            "status": "fail",
            "summary": f"guard metrics unavailable ({exc}); run bench/guard_quality.py --write",
            "rows": [],
            "data": {},
        }
    rows = []
    for name, m in metrics.get("detectors", {}).items():
        rows.append(
            {
                "detector": name,
                "precision": m["precision"],
                "recall": m["recall"],
                "f1": m["f1"],
                "fpr": m["fpr"],
                "recall_at_1pct_fpr": m["recall_at_1pct_fpr"],
                "positives": m["positives"],
                "negatives": m["negatives"],
            }
        )
    missed = check_targets(metrics)
    stale = metrics.get("weights_sha256") != current
    lat = metrics.get("latency", {})
    status = "ok" if not missed and not stale else "warn"
    parts = [f"{r['detector']} R {r['recall']:.2f}/FPR {r['fpr']:.3f}" for r in rows if r["detector"] in TARGETS]
    summary = "; ".join(parts)
    if lat.get("p50_ms_512"):
        summary += f"; p50 {lat['p50_ms_512']:.1f} ms at 512 tokens"
    if missed:
        summary += "; missed: " + ", ".join(missed)
    if stale:
        summary += "; measured on other weights (rerun bench/guard_quality.py --write)"
    data = {
        "weights_sha256": current,
        "measured_on": metrics.get("weights_sha256"),
        "eval_set": metrics.get("eval_set", {}),
        "targets_missed": missed,
        "latency": lat,
        "layers": metrics.get("layers", {}),
    }
    return {"status": status, "summary": summary, "rows": rows, "data": data}
