"""Paired statistics: exact McNemar against scipy and a hand-worked case; the seeded paired bootstrap."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from weightwarden.eval.stats_paired import mcnemar_exact, paired, paired_binary, paired_bootstrap


def test_mcnemar_hand_worked() -> None:
    # b=1, c=7: 8 discordant pairs; P(X <= 1) for Binomial(8, 1/2) = (1 + 8) / 256; two-sided doubles it
    assert mcnemar_exact(1, 7) == pytest.approx(18 / 256, abs=1e-15)
    assert mcnemar_exact(7, 1) == mcnemar_exact(1, 7)
    # b=0, c=5: 2 * (1/32)
    assert mcnemar_exact(0, 5) == pytest.approx(1 / 16, abs=1e-15)
    assert mcnemar_exact(0, 0) == 1.0  # no discordant pairs: no evidence of a difference
    assert mcnemar_exact(4, 4) == 1.0  # capped at 1


@pytest.mark.parametrize("b", range(0, 31, 3))
@pytest.mark.parametrize("c", [0, 1, 2, 5, 9, 17, 30, 61])
def test_mcnemar_matches_scipy_binomtest(b: int, c: int) -> None:
    if b + c == 0:
        return
    want = stats.binomtest(min(b, c), b + c, 0.5, alternative="two-sided").pvalue
    assert mcnemar_exact(b, c) == pytest.approx(want, rel=1e-9, abs=1e-300)


def test_mcnemar_large_counts_stay_exact() -> None:
    want = stats.binomtest(450, 1000, 0.5).pvalue
    assert mcnemar_exact(450, 550) == pytest.approx(want, rel=1e-9)
    assert 0 < mcnemar_exact(0, 2000) < 1e-300 or mcnemar_exact(0, 2000) == 0.0


def test_mcnemar_rejects_negative_counts() -> None:
    with pytest.raises(ValueError):
        mcnemar_exact(-1, 3)


def test_paired_binary_counts_discordant_pairs() -> None:
    base = [1, 1, 1, 1, 1, 0, 0, 1, 1, 1]
    cand = [1, 0, 0, 0, 1, 0, 1, 1, 1, 0]
    r = paired_binary(base, cand)
    assert (r.base_only, r.candidate_only, r.n) == (4, 1, 10)
    assert r.delta == pytest.approx(0.5 - 0.8)
    assert r.p_value == pytest.approx(mcnemar_exact(4, 1))
    assert r.low <= r.delta <= r.high
    assert r.method == "mcnemar"
    with pytest.raises(ValueError, match="0/1"):
        paired_binary([0.5, 1], [1, 1])


def test_paired_picks_the_test_for_the_data() -> None:
    assert paired([1, 0, 1], [1, 1, 1]).method == "mcnemar"
    assert paired([0.2, 0.5, 0.9], [0.3, 0.5, 0.7]).method == "bootstrap"


def test_paired_bootstrap_is_seeded_and_reasonable() -> None:
    rng = np.random.default_rng(7)
    base = rng.normal(0.0, 1.0, 400)
    cand = base + rng.normal(0.15, 1.0, 400)  # a real shift of 0.15 with noise sd 1 per item
    a = paired_bootstrap(base.tolist(), cand.tolist(), seed=3)
    b = paired_bootstrap(base.tolist(), cand.tolist(), seed=3)
    assert a == b
    diff = cand - base
    assert a.delta == pytest.approx(diff.mean())
    assert a.low < a.delta < a.high
    # the bootstrap agrees with the paired t-test on well-behaved data
    t = stats.ttest_rel(cand, base)
    assert a.p_value == pytest.approx(t.pvalue, abs=0.01)
    se = diff.std(ddof=1) / np.sqrt(diff.size)
    assert a.high - a.low == pytest.approx(2 * 1.96 * se, rel=0.15)


def test_paired_bootstrap_no_shift_is_not_significant() -> None:
    rng = np.random.default_rng(11)
    base = rng.normal(0.0, 1.0, 300)
    noise = rng.normal(0.0, 1.0, 300)
    r = paired_bootstrap(base.tolist(), (base + noise - noise.mean()).tolist())
    assert r.p_value > 0.5
    assert r.low < 0 < r.high


def test_paired_bootstrap_edge_cases() -> None:
    same = paired_bootstrap([0.1, 0.4, 0.9], [0.1, 0.4, 0.9])
    assert (same.delta, same.low, same.high, same.p_value) == (0.0, 0.0, 0.0, 1.0)
    shifted = paired_bootstrap([0.1, 0.4, 0.9], [0.2, 0.5, 1.0])
    assert shifted.delta == pytest.approx(0.1) and shifted.p_value == 0.0
    with pytest.raises(ValueError, match="same length"):
        paired_bootstrap([1.0, 2.0], [1.0])
    with pytest.raises(ValueError, match="no paired items"):
        paired_bootstrap([], [])
    with pytest.raises(ValueError, match="finite"):
        paired_bootstrap([float("nan")], [1.0])
