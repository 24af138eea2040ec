"""Model-based membership scores: Min-K% (Shi et al., 2023) and Min-K%++ (Zhang et al., 2024).

Both average the k% least likely tokens of a text; a text the model was trained on has fewer very unlikely tokens.
Min-K%++ first standardises each token's log-probability by the mean and std of the model's log-probabilities at that
position, so a token that is unlikely only because every continuation is unlikely there does not count against the
text. Higher means "more likely seen in training". They are evidence, not proof: without reference texts the model
has certainly not seen, a single score has no calibrated threshold.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from weightwarden.formulas.roc import auc
from weightwarden.runtimes.distribution import TokenStats, token_stats

DEFAULT_K = 0.2


@dataclass(frozen=True)
class Membership:
    """min_k: mean of the lowest k of token log-probabilities; min_k_pp: the same of standardised ones."""

    min_k: float
    min_k_pp: float
    tokens: int
    k: float

    def as_dict(self) -> dict[str, Any]:
        return {"min_k": round(self.min_k, 4), "min_k_pp": round(self.min_k_pp, 4), "tokens": self.tokens, "k": self.k}


def lowest_mean(values: np.ndarray, k: float) -> float:
    """Mean of the lowest ceil(k * n) values (at least one)."""
    if values.shape[0] == 0:
        return float("nan")
    n = max(1, math.ceil(k * values.shape[0]))
    return float(np.sort(values)[:n].mean())


def membership_from_stats(stats: TokenStats, k: float = DEFAULT_K) -> Membership:
    # a position whose distribution is a point mass has std 0: its token is either certain or impossible
    z = np.where(stats.std > 1e-9, (stats.logprob - stats.mean) / np.maximum(stats.std, 1e-9), 0.0)
    return Membership(lowest_mean(stats.logprob, k), lowest_mean(z, k), len(stats.tokens), k)


def membership(runtime: object, text: str, k: float = DEFAULT_K, max_tokens: int = 512) -> Membership:
    """Min-K% and Min-K%++ of text under a local runtime (llama.cpp or transformers)."""
    if not 0.0 < k <= 1.0:
        raise ValueError(f"k is {k}; it must be in (0, 1]")
    return membership_from_stats(token_stats(runtime, text, max_tokens), k)


def membership_all(
    runtime: object,
    texts: Sequence[str],
    k: float = DEFAULT_K,
    progress: Callable[[int, int], None] | None = None,
) -> list[Membership]:
    """membership() of each text, with progress(done, total) after each."""
    out = []
    for i, text in enumerate(texts):
        out.append(membership(runtime, text, k))
        if progress is not None:
            progress(i + 1, len(texts))
    return out


def auroc(members: Sequence[float], non_members: Sequence[float]) -> float:
    """Area under the ROC curve of a score that should be higher for members (ties count one half)."""
    if not members or not non_members:
        raise ValueError("AUROC needs at least one member and one non-member")
    return auc(members, non_members)
