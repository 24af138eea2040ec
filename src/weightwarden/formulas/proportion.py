"""A share's 95% interval (Wilson's score interval) and the exact McNemar test, both from scipy.stats.binomtest."""

from __future__ import annotations

from typing import Any

CONFIDENCE = 0.95


def _binomtest(k: int, n: int, p: float = 0.5) -> Any:
    # imported on first use: scipy.stats costs about a second at start-up, and `warden scan` or the gateway never
    # need it
    from scipy.stats import binomtest

    return binomtest(k, n, p)


def wilson_interval(successes: int, n: int, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """Wilson's score interval for successes/n (good near 0 and 1, unlike the normal approximation).

    For 8 of 10 at 95% it is (0.4902, 0.9433). With no trials nothing is known: (0, 1).
    """
    if n == 0:
        return 0.0, 1.0
    if n < 0:
        raise ValueError(f"n ({n}) must be >= 0")
    if not 0 <= successes <= n:
        raise ValueError(f"successes ({successes}) must lie between 0 and n ({n})")
    ci = _binomtest(successes, n).proportion_ci(confidence_level=confidence, method="wilson")
    return max(0.0, float(ci.low)), min(1.0, float(ci.high))


def mcnemar_exact(base_only: int, candidate_only: int) -> float:
    """Two-sided exact McNemar p-value from the discordant pairs alone.

    Under "no difference" each discordant pair goes either way with probability 1/2, so one count is
    Binomial(b + c, 1/2): the exact two-sided binomial test of that count. For 2 against 8 it is 0.109375.
    """
    if base_only < 0 or candidate_only < 0:
        raise ValueError("discordant counts must be >= 0")
    n = base_only + candidate_only
    if n == 0:
        return 1.0
    return float(_binomtest(base_only, n).pvalue)
