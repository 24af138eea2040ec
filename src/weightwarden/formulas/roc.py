"""How well a score separates positives from negatives: ROC AUC, precision, recall, F1, recall at a fixed
false-positive rate (scikit-learn's metrics, on scores where higher means positive)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

Scores = Sequence[float] | np.ndarray


def _labelled(pos: Scores, neg: Scores) -> tuple[np.ndarray, np.ndarray]:
    p = np.asarray(pos, dtype=np.float64)
    n = np.asarray(neg, dtype=np.float64)
    return np.concatenate([np.ones(len(p)), np.zeros(len(n))]), np.concatenate([p, n])


def auc(pos: Scores, neg: Scores) -> float:
    """Area under the ROC curve: the chance that a positive outscores a negative, ties counting one half."""
    if not len(pos) or not len(neg):
        raise ValueError("an AUC needs at least one positive and one negative score")
    from sklearn.metrics import roc_auc_score  # on first use: importing scikit-learn costs seconds at start-up

    truth, scores = _labelled(pos, neg)
    return float(roc_auc_score(truth, scores))


def recall_at_fpr(pos: Scores, neg: Scores, fpr: float) -> float:
    """Recall at the lowest threshold that keeps the false-positive rate at or below `fpr` (ties count as positives)."""
    p = np.asarray(pos, dtype=np.float64)
    n = np.asarray(neg, dtype=np.float64)
    if not len(p):
        return 0.0
    if not len(n):
        return 1.0
    allowed = math.floor(fpr * len(n))
    ranked = np.sort(n)[::-1]
    # a threshold strictly above the (allowed+1)-th highest negative score lets at most `allowed` negatives through
    cut = ranked[allowed] if allowed < len(ranked) else -np.inf
    return float((p > cut).mean())


def binary_metrics(pos: Scores, neg: Scores, threshold: float = 0.5) -> dict[str, Any]:
    """Precision, recall, F1, false-positive rate at `threshold`, recall at 1% FPR, AUC (0 without both sides)."""
    from sklearn.metrics import precision_recall_fscore_support

    truth, scores = _labelled(pos, neg)
    said = scores >= threshold
    n_pos, n_neg = int(truth.sum()), int(len(truth) - truth.sum())
    tp = int((said & (truth == 1)).sum())
    fp = int((said & (truth == 0)).sum())
    precision, recall, f1, _ = precision_recall_fscore_support(
        truth, said.astype(np.float64), average="binary", pos_label=1, zero_division=0.0
    )
    return {
        "positives": n_pos,
        "negatives": n_neg,
        "tp": tp,
        "fn": n_pos - tp,
        "fp": fp,
        "precision": round(float(precision), 4),
        "recall": round(float(recall), 4),
        "f1": round(float(f1), 4),
        "fpr": round(fp / n_neg, 4) if n_neg else 0.0,
        "recall_at_1pct_fpr": round(recall_at_fpr(pos, neg, 0.01), 4),
        "auc": round(auc(pos, neg), 4) if n_pos and n_neg else 0.0,
    }
