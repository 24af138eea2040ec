"""95% intervals: Wilson's score interval for proportions, a seeded percentile bootstrap over items for the rest."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np

from weightwarden.eval.base import Metric

Z95 = 1.959963984540054  # the 97.5th percentile of the standard normal
BOOTSTRAP_RESAMPLES = 1000
BOOTSTRAP_SEED = 20240601


def wilson(successes: int, n: int, z: float = Z95) -> Metric:
    """The share successes/n with Wilson's score interval (good near 0 and 1, unlike the normal approximation)."""
    if n <= 0:
        raise ValueError("a proportion needs at least one trial")
    if not 0 <= successes <= n:
        raise ValueError(f"successes ({successes}) must lie between 0 and n ({n})")
    p = successes / n
    z2 = z * z
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / (1 + z2 / n)
    return Metric(p, max(0.0, centre - half), min(1.0, centre + half), n, "wilson")


def proportion(values: Sequence[float]) -> Metric:
    """Wilson interval for a list of 0/1 outcomes."""
    return wilson(round(sum(values)), len(values))


def bootstrap(
    statistic: Callable[[np.ndarray], float],
    n: int,
    *,
    strata: Sequence[object] | None = None,
    resamples: int = BOOTSTRAP_RESAMPLES,
    seed: int = BOOTSTRAP_SEED,
) -> Metric:
    """Percentile bootstrap of statistic(indices) over n items, with a fixed seed so the interval repeats.

    statistic: takes an array of item indices (a resample, with repeats) and returns a float, or nan to skip it.
    strata: one label per item; items are then resampled within each label, keeping each group's size.
    """
    if n <= 0:
        raise ValueError("a bootstrap needs at least one item")
    value = float(statistic(np.arange(n)))
    rng = np.random.default_rng(seed)
    if strata is None:
        groups = [np.arange(n)]
    else:
        labels = list(strata)
        groups = [np.array([i for i, s in enumerate(labels) if s == label]) for label in dict.fromkeys(labels)]
    stats = []
    for _ in range(resamples):
        idx = np.concatenate([g[rng.integers(0, len(g), len(g))] for g in groups])
        s = float(statistic(idx))
        if not math.isnan(s):
            stats.append(s)
    if not stats:
        return Metric(value, value, value, n, "bootstrap")
    low, high = np.percentile(stats, [2.5, 97.5])
    return Metric(value, float(low), float(high), n, "bootstrap")


def mean_metric(values: Sequence[float], *, seed: int = BOOTSTRAP_SEED) -> Metric:
    """The mean of real-valued item scores with a bootstrap interval."""
    arr = np.asarray(values, dtype=np.float64)
    return bootstrap(lambda idx: float(arr[idx].mean()), len(arr), seed=seed)
