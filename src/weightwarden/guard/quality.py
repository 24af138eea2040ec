"""Measured quality of the guard: its build-time figures, and a live check of them.

The figures are build-time figures: training/guard/train.py measures them leave-one-source-out and stores them,
with when, on which sources and on which weights and code, in model.json's `encoder` section. The audit's guard
stage (weightwarden.audit.stages.guard) reports them as such, checks that the installed weights and scoring code
are the ones measured (sha256), and scores a small built-in labelled sample (live_sample.yaml) now: it fails when
the sample's scores differ from the ones the build stored, or when the sample's recall or false-positive rate
contradicts the stored figures.
"""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from weightwarden.guard.classifier import LINEAR_FILE, weights_dir
from weightwarden.guard.encoder import ENCODER_FILE

METRICS_FILE = "metrics.json"
TARGETS = {
    "injection": {"recall": 0.90, "fpr": 0.02},
    "jailbreak": {"recall": 0.90, "fpr": 0.02},
    "pii": {"recall": 0.98},
    "secrets": {"recall": 0.98},
}
# leave-one-source-out targets of the encoder layer (issue 11): AUC per label, recall at 2% FPR
LOSO_TARGETS = {"injection": 0.95, "jailbreak": 0.95, "harmful": 0.93}
LOSO_RECALL = 0.90
CARD_FILE = "model.json"
LIVE_SAMPLE_FILE = "live_sample.yaml"
SCORE_TOLERANCE = 0.02  # the same weights and code on another machine: float noise only
SCORING_MODULES = ("encoder.py", "layered.py", "learned.py")


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


def encoder_sha256() -> str:
    return hashlib.sha256((weights_dir() / ENCODER_FILE).read_bytes()).hexdigest()


def scoring_code_sha256() -> str:
    """sha256 of the syntax trees of the modules that turn the weights into scores (comments and layout ignored)."""
    import ast

    h = hashlib.sha256()
    here = Path(__file__).resolve().parent
    for name in SCORING_MODULES:
        h.update(name.encode() + b"\x00" + ast.dump(ast.parse((here / name).read_text(encoding="utf-8"))).encode())
    return h.hexdigest()


def encoder_card() -> dict[str, Any]:
    """The `encoder` section of model.json: build-time figures and their provenance ({} when absent)."""
    card = json.loads((weights_dir() / CARD_FILE).read_text(encoding="utf-8"))
    out = card.get("encoder", {})
    return out if isinstance(out, dict) else {}


def live_sample() -> list[dict[str, Any]]:
    """The built-in labelled sample: [{text, labels, kind}], attacks first."""
    import yaml

    raw = yaml.safe_load((weights_dir() / LIVE_SAMPLE_FILE).read_text(encoding="utf-8"))
    out = [{"text": a["text"], "labels": list(a["labels"]), "kind": "attack"} for a in raw["attacks"]]
    out += [{"text": b["text"], "labels": [], "kind": b["kind"]} for b in raw["benign"]]
    return out


def live_sample_sha256(sample: list[dict[str, Any]]) -> str:
    return hashlib.sha256(json.dumps(sample, sort_keys=True).encode()).hexdigest()


def wilson(hits: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """95% Wilson interval of a proportion."""
    if n == 0:
        return 0.0, 1.0
    p = hits / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def score_live(guard: Any, sample: list[dict[str, Any]], labels: list[str]) -> list[dict[str, float]]:
    """Each sample text's score per learned label under `guard` (the default guard in the audit)."""
    return [{la: round(guard.scan(s["text"], "input").scores.get(la, 0.0), 4) for la in labels} for s in sample]


def live_check(card: dict[str, Any], guard: Any) -> dict[str, Any]:
    """Score the built-in sample now and compare it with what the build stored and with the stored figures."""
    sample = live_sample()
    labels = list(card.get("heads", []))
    thresholds = card.get("thresholds", {})
    scores = score_live(guard, sample, labels)
    problems: list[str] = []
    stored = card.get("live_sample", {})
    if stored.get("sha256") != live_sample_sha256(sample):
        problems.append("the built-in sample changed since the build: retrain (training/guard/train.py)")
    else:
        drift = max(
            (
                abs(a[la] - b.get(la, 0.0))
                for a, b in zip(scores, stored.get("scores", []), strict=False)
                for la in labels
            ),
            default=0.0,
        )
        if drift > SCORE_TOLERANCE:
            problems.append(f"the installed guard scores the sample up to {drift:.3f} away from the build's scores")
    attacks = [(s, sc) for s, sc in zip(sample, scores, strict=True) if s["labels"]]
    benign = [(s, sc) for s, sc in zip(sample, scores, strict=True) if not s["labels"]]
    caught = sum(any(sc[la] >= thresholds.get(la, 1.0) for la in s["labels"]) for s, sc in attacks)
    flagged = sum(any(sc[la] >= thresholds.get(la, 1.0) for la in labels) for _, sc in benign)
    loso = card.get("loso", {})
    # what the stored figures predict for this sample: each attack caught at its label's out-of-source recall
    expect_recall = sum(
        max(loso.get(la, {}).get("recall_at_threshold", 0.0) for la in s["labels"]) for s, _ in attacks
    ) / max(len(attacks), 1)
    expect_fpr = sum(m.get("fpr_at_threshold", 0.0) for m in loso.values())
    lo, hi = wilson(caught, len(attacks))
    if expect_recall > hi:
        problems.append(f"live recall {caught}/{len(attacks)} is below the stored figures ({expect_recall:.2f})")
    lo_f, _ = wilson(flagged, len(benign))
    if lo_f > expect_fpr:
        problems.append(f"live false positives {flagged}/{len(benign)} are above the stored figures ({expect_fpr:.3f})")
    return {
        "texts": len(sample),
        "attacks_caught": caught,
        "attacks": len(attacks),
        "benign_flagged": flagged,
        "benign": len(benign),
        "recall_95ci": [round(lo, 3), round(hi, 3)],
        "expected_recall": round(expect_recall, 3),
        "problems": problems,
        "scores": scores,
    }
