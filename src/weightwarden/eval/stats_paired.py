"""Paired statistics for two runs over the same items: exact McNemar for right/wrong, paired bootstrap otherwise.

Both give the delta (candidate - base), a 95% interval for it and a two-sided p-value for "no difference".
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from weightwarden.formulas.proportion import mcnemar_exact

__all__ = ["PairedResult", "is_binary", "mcnemar_exact", "paired", "paired_binary", "paired_bootstrap"]

PairedMethod = Literal["mcnemar", "bootstrap", "permutation"]

BOOTSTRAP_RESAMPLES = 2000
BOOTSTRAP_SEED = 1234
_CHUNK = 250  # resamples per batch, so that n x resamples never sits in memory at once


@dataclass(frozen=True)
class PairedResult:
    """The paired difference of one metric between two runs.

    delta: mean(candidate) - mean(base) over the paired items; low, high: its 95% interval; p_value: two-sided.
    n: paired items. For mcnemar, base_only (right in base, wrong in candidate) and candidate_only count the
    discordant pairs; for bootstrap both are 0.
    """

    base: float
    candidate: float
    delta: float
    low: float
    high: float
    p_value: float
    n: int
    method: PairedMethod
    base_only: int = 0
    candidate_only: int = 0


def _as_arrays(base: Sequence[float], candidate: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    b = np.asarray(base, dtype=np.float64)
    c = np.asarray(candidate, dtype=np.float64)
    if b.shape != c.shape or b.ndim != 1:
        raise ValueError(f"paired scores need two 1-d sequences of the same length, got {b.shape} and {c.shape}")
    if b.size == 0:
        raise ValueError("no paired items to compare")
    if not (np.isfinite(b).all() and np.isfinite(c).all()):
        raise ValueError("paired scores must be finite numbers")
    return b, c


def _bootstrap_means(diff: np.ndarray, resamples: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    n = diff.size
    out = np.empty(resamples, dtype=np.float64)
    for start in range(0, resamples, _CHUNK):
        size = min(_CHUNK, resamples - start)
        out[start : start + size] = diff[rng.integers(0, n, size=(size, n))].mean(axis=1)
    return out


def paired_bootstrap(
    base: Sequence[float],
    candidate: Sequence[float],
    *,
    resamples: int = BOOTSTRAP_RESAMPLES,
    seed: int = BOOTSTRAP_SEED,
) -> PairedResult:
    """Paired bootstrap over items of the per-item differences (candidate - base).

    The interval is the 2.5th to 97.5th percentile of the resampled mean differences. The p-value tests a zero
    mean difference by the shift method: how often a resampled mean lands at least as far from the observed mean
    as the observed mean is from zero, with the usual +1 correction so it is never exactly 0.
    """
    b, c = _as_arrays(base, candidate)
    diff = c - b
    delta = float(diff.mean())
    means = _bootstrap_means(diff, resamples, seed)
    low, high = (float(x) for x in np.percentile(means, [2.5, 97.5]))
    if float(np.ptp(diff)) <= 1e-12 * max(1.0, float(np.abs(diff).max())):
        # no spread: the difference is the same on every item, so it is either exactly zero or certain
        p = 1.0 if abs(delta) <= 1e-12 else 0.0
    else:
        extreme = int(np.count_nonzero(np.abs(means - delta) >= abs(delta) - 1e-12))
        p = min(1.0, (extreme + 1) / (resamples + 1))
    return PairedResult(float(b.mean()), float(c.mean()), delta, low, high, p, int(b.size), "bootstrap")


def paired_group_test(
    base: Sequence[float],
    candidate: Sequence[float],
    labels: Sequence[str],
    statistic: Callable[[np.ndarray, np.ndarray], float],
    *,
    resamples: int = BOOTSTRAP_RESAMPLES,
    seed: int = BOOTSTRAP_SEED,
) -> PairedResult:
    """The change in a statistic computed over groups of items (a balance, a gap between groups), paired by item.

    statistic(values, labels) -> float, for one side's per-item values and the items' group labels.
    Interval: items are resampled within their group (each keeps its size), the same indices for both sides; the
    2.5th to 97.5th percentile of the resampled statistic(candidate) - statistic(base).
    p-value: a paired permutation test. If base and candidate did not differ, swapping the two answers of any item
    would change nothing, so the observed difference is compared with those of random swaps (+1 correction). The
    bootstrap's shift method would be wrong here: a gap (max - min) is biased upward when resampled, which makes
    a real change look like noise (a gap going from 0 to 0.30 over 40 items a group: shift p 0.06, permutation
    p 0.001). The same bias makes the interval of a gap's change wide when the base gap is near 0: gate on the
    p-value (significance) there rather than on the interval.
    """
    b, c = _as_arrays(base, candidate)
    lab = np.asarray(list(labels))
    if lab.shape != b.shape:
        raise ValueError(f"need one label per paired item: {lab.size} labels for {b.size} items")
    vb, vc = statistic(b, lab), statistic(c, lab)
    delta = vc - vb
    rng = np.random.default_rng(seed)
    groups = [np.flatnonzero(lab == g) for g in dict.fromkeys(lab.tolist())]
    deltas = np.empty(resamples, dtype=np.float64)
    for r in range(resamples):
        idx = np.concatenate([g[rng.integers(0, g.size, g.size)] for g in groups])
        deltas[r] = statistic(c[idx], lab[idx]) - statistic(b[idx], lab[idx])
    low, high = (float(x) for x in np.percentile(deltas, [2.5, 97.5]))
    extreme = 0
    for _ in range(resamples):
        swap = rng.random(b.size) < 0.5
        sb, sc = np.where(swap, c, b), np.where(swap, b, c)
        extreme += abs(statistic(sc, lab) - statistic(sb, lab)) >= abs(delta) - 1e-12
    p = min(1.0, (extreme + 1) / (resamples + 1))
    return PairedResult(float(vb), float(vc), float(delta), low, high, p, int(b.size), "permutation")


def is_binary(values: Sequence[float]) -> bool:
    """Every value is 0 or 1 (right/wrong outcomes)."""
    return all(v in (0.0, 1.0) for v in values)


def paired_binary(
    base: Sequence[float],
    candidate: Sequence[float],
    *,
    resamples: int = BOOTSTRAP_RESAMPLES,
    seed: int = BOOTSTRAP_SEED,
) -> PairedResult:
    """Right/wrong outcomes (1/0) on the same items: exact McNemar p-value, paired bootstrap interval."""
    b, c = _as_arrays(base, candidate)
    if not (is_binary(b.tolist()) and is_binary(c.tolist())):
        raise ValueError("paired_binary needs 0/1 outcomes; use paired_bootstrap for continuous scores")
    base_only = int(np.count_nonzero((b == 1) & (c == 0)))
    candidate_only = int(np.count_nonzero((b == 0) & (c == 1)))
    boot = paired_bootstrap(base, candidate, resamples=resamples, seed=seed)
    return PairedResult(
        boot.base,
        boot.candidate,
        boot.delta,
        boot.low,
        boot.high,
        mcnemar_exact(base_only, candidate_only),
        boot.n,
        "mcnemar",
        base_only,
        candidate_only,
    )


def paired(base: Sequence[float], candidate: Sequence[float], *, seed: int = BOOTSTRAP_SEED) -> PairedResult:
    """The right paired test for the data: McNemar when both sides are 0/1, the paired bootstrap otherwise."""
    if is_binary(base) and is_binary(candidate):
        return paired_binary(base, candidate, seed=seed)
    return paired_bootstrap(base, candidate, seed=seed)
