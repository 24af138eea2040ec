"""The two-sample tests of a drift report: multivariate on embeddings, univariate on per-request figures.

Each returns a TestResult with a raw p-value and an effect size; drift.py corrects the p-values for the number
of tests (Holm) before it says anything drifted.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]


@dataclass
class TestResult:
    """One test: what it compared, its p-value (raw, then Holm-adjusted) and an effect size with its name."""

    name: str
    kind: str
    p_value: float
    effect: float
    effect_name: str
    n_reference: int
    n_current: int
    details: dict[str, Any] = field(default_factory=dict)
    p_adjusted: float = math.nan

    __test__ = False  # not a pytest test class

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "p_value": self.p_value,
            "p_adjusted": self.p_adjusted,
            "effect": self.effect,
            "effect_name": self.effect_name,
            "n_reference": self.n_reference,
            "n_current": self.n_current,
            **self.details,
        }


def _stats() -> Any:
    """scipy.stats, imported on first use: it costs 0.8 s, and the CLI imports this module at start-up."""
    from scipy import stats

    return stats


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm's step-down adjustment: controls the chance of any false alarm across the tests at alpha."""
    m = len(p_values)
    order = sorted(range(m), key=lambda i: p_values[i])
    adjusted = [0.0] * m
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p_values[i]))
        adjusted[i] = running
    return adjusted


def _empirical(observed: float, null: FloatArray) -> float:
    """The plain permutation p-value, (1 + #null >= observed) / (1 + #null)."""
    return (1 + int(np.sum(null >= observed))) / (1 + len(null))


def _auc(scores: FloatArray, labels: NDArray[np.bool_]) -> FloatArray:
    """ROC AUC of each column of scores against each column of labels (Mann-Whitney, ties counted half)."""
    ranks = _stats().rankdata(scores, axis=0)
    n_pos = labels.sum(axis=0)
    n_neg = labels.shape[0] - n_pos
    rank_sum = (ranks * labels).sum(axis=0)
    return np.asarray((rank_sum - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg), dtype=np.float64)


def classifier_test(
    reference: FloatArray,
    current: FloatArray,
    *,
    permutations: int = 200,
    components: int = 32,
    folds: int = 5,
    alpha: float = 0.05,
    ridge: float = 1.0,
    seed: int = 0,
) -> TestResult:
    """A domain classifier: can a linear model tell current from reference? AUC 0.5 means it cannot.

    The embeddings are reduced by PCA (fitted on both windows together, without labels, so permutations stay
    exchangeable) and a ridge classifier is fitted fold by fold; its out-of-fold AUC is compared with the AUCs of the
    same procedure on `permutations` random relabellings: p is the tail of a normal fitted to them (the plain
    permutation p is in details), and the threshold is the permutation AUCs' (1 - alpha) quantile.
    """
    from sklearn.model_selection import KFold

    rng = np.random.default_rng(seed)
    x = np.vstack([reference, current]).astype(np.float64)
    n_ref, n = len(reference), len(reference) + len(current)
    k = max(1, min(components, n - 1, x.shape[1]))
    # PCA by the eigenvectors of the d-by-d scatter matrix: cheaper than an SVD of the n-by-d data.
    centred = x - x.mean(axis=0)
    _, vectors = np.linalg.eigh(centred.T @ centred)
    z = centred @ vectors[:, ::-1][:, :k]
    truth = np.zeros(n, dtype=bool)
    truth[n_ref:] = True
    labels = np.column_stack([truth] + [rng.permutation(truth) for _ in range(permutations)])
    y = labels.astype(np.float64) - labels.mean(axis=0)
    scores = np.zeros_like(y)
    for train, test in KFold(n_splits=folds, shuffle=True, random_state=seed).split(z):
        # Ridge regression on every label column at once: one k-by-k solve serves the truth and all permutations.
        mean = z[train].mean(axis=0)
        zt = z[train] - mean
        weights = np.linalg.solve(zt.T @ zt + ridge * np.eye(k), zt.T @ (y[train] - y[train].mean(axis=0)))
        scores[test] = (z[test] - mean) @ weights
    aucs = _auc(scores, labels)
    observed, null = float(aucs[0]), aucs[1:]
    # The AUC of a permuted split is close to normal; its mean and spread come from the permutations, so p is not
    # floored at 1/(permutations + 1), which a correction over ten tests would push past any alpha.
    spread = float(np.std(null, ddof=1)) or 1e-12
    p = float(_stats().norm.sf((observed - float(np.mean(null))) / spread))
    return TestResult(
        name="embedding: domain classifier",
        kind="multivariate",
        p_value=p,
        effect=observed,
        effect_name="AUC",
        n_reference=n_ref,
        n_current=n - n_ref,
        details={
            "threshold_auc": float(np.quantile(null, 1 - alpha)),
            "p_permutation": _empirical(observed, null),
            "components": k,
            "permutations": permutations,
        },
    )


def mmd_test(reference: FloatArray, current: FloatArray, *, permutations: int = 200, seed: int = 0) -> TestResult:
    """Maximum mean discrepancy with a Gaussian kernel (bandwidth: the median pairwise distance), p from permutations.

    All permutations are evaluated at once: MMD² (biased) of a split is w'Kw with w = 1/n_ref on one side and
    -1/n_cur on the other, so a matrix of permuted w costs one product with K.
    """
    rng = np.random.default_rng(seed)
    x = np.vstack([reference, current]).astype(np.float64)
    n_ref, n = len(reference), len(reference) + len(current)
    sq = np.sum(x * x, axis=1)
    d2 = np.maximum(sq[:, None] + sq[None, :] - 2 * x @ x.T, 0.0)
    upper = d2[np.triu_indices(n, k=1)]
    bandwidth2 = float(np.median(upper[upper > 0])) if np.any(upper > 0) else 1.0
    kernel = np.exp(-d2 / bandwidth2)
    base = np.concatenate([np.full(n_ref, 1.0 / n_ref), np.full(n - n_ref, -1.0 / (n - n_ref))])
    weights = np.column_stack([base] + [rng.permutation(base) for _ in range(permutations)])
    mmd2 = np.sum(weights * (kernel @ weights), axis=0)
    observed, null = float(mmd2[0]), mmd2[1:]
    # A gamma distribution matched to the permutations' mean and variance (Gretton et al.'s approximation of the
    # MMD null), so p is not floored at 1/(permutations + 1).
    mean, var = float(np.mean(null)), float(np.var(null, ddof=1)) or 1e-24
    p = float(_stats().gamma.sf(observed, a=mean * mean / var, scale=var / mean)) if mean > 0 else 1.0
    return TestResult(
        name="embedding: MMD",
        kind="multivariate",
        p_value=p,
        effect=math.sqrt(max(observed, 0.0)),
        effect_name="MMD",
        n_reference=n_ref,
        n_current=n - n_ref,
        details={
            "bandwidth": math.sqrt(bandwidth2),
            "p_permutation": _empirical(observed, null),
            "permutations": permutations,
        },
    )


def numeric_test(name: str, reference: FloatArray, current: FloatArray) -> TestResult:
    """Kolmogorov-Smirnov on the two distributions; effect: Cliff's delta (P(cur > ref) - P(cur < ref))."""
    ks = _stats().ks_2samp(current, reference)
    u = _stats().mannwhitneyu(current, reference, alternative="two-sided")
    delta = 2.0 * float(u.statistic) / (len(current) * len(reference)) - 1.0
    return TestResult(
        name=name,
        kind="numeric",
        p_value=float(ks.pvalue),
        effect=delta,
        effect_name="Cliff's delta",
        n_reference=len(reference),
        n_current=len(current),
        details={
            "ks": float(ks.statistic),
            "median_reference": float(np.median(reference)),
            "median_current": float(np.median(current)),
            "mean_reference": float(np.mean(reference)),
            "mean_current": float(np.mean(current)),
        },
    )


def rate_test(name: str, reference: NDArray[np.bool_], current: NDArray[np.bool_]) -> TestResult:
    """Fisher's exact test on a 2x2 table; effect: Cohen's h between the two rates."""
    a, b = int(current.sum()), len(current) - int(current.sum())
    c, d = int(reference.sum()), len(reference) - int(reference.sum())
    p = float(_stats().fisher_exact([[a, b], [c, d]]).pvalue)
    r_cur, r_ref = a / len(current), c / len(reference)
    h = 2 * math.asin(math.sqrt(r_cur)) - 2 * math.asin(math.sqrt(r_ref))
    return TestResult(
        name=name,
        kind="rate",
        p_value=p,
        effect=h,
        effect_name="Cohen's h",
        n_reference=len(reference),
        n_current=len(current),
        details={"rate_reference": r_ref, "rate_current": r_cur},
    )


def category_test(name: str, reference: Sequence[str], current: Sequence[str]) -> TestResult:
    """Chi-square test of the categories' shares (rare ones pooled as `other`); effect: Cramér's V."""
    ref, cur = Counter(reference), Counter(current)
    keep = [c for c in sorted(set(ref) | set(cur)) if ref[c] + cur[c] >= 10]
    rows = [[ref[c] for c in keep], [cur[c] for c in keep]]
    rest = [sum(ref.values()) - sum(rows[0]), sum(cur.values()) - sum(rows[1])]
    if any(rest):
        keep.append("other")
        rows[0].append(rest[0])
        rows[1].append(rest[1])
    shares = {
        c: {"reference": rows[0][i] / max(1, len(reference)), "current": rows[1][i] / max(1, len(current))}
        for i, c in enumerate(keep)
    }
    if len(keep) < 2:
        p, v = 1.0, 0.0
    else:
        chi2, p, _, _ = _stats().chi2_contingency(np.asarray(rows))
        v = math.sqrt(float(chi2) / (len(reference) + len(current)))
    return TestResult(
        name=name,
        kind="category",
        p_value=float(p),
        effect=v,
        effect_name="Cramér's V",
        n_reference=len(reference),
        n_current=len(current),
        details={"shares": shares},
    )
