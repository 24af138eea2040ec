"""Has the traffic changed since a reference period? Two windows of the gateway's ledger, compared.

`warden monitor drift --reference 2026-11-01..2026-11-30 --current 7d` reads each window's audit rows and request
sketches and runs: on the prompts' embeddings, a domain classifier with a permutation-calibrated threshold and an
MMD test; on each request's lengths, guard scores, latency and cost, a Kolmogorov-Smirnov test; on the refusal rate,
Fisher's exact test; on the language mix, a chi-square test. The p-values are adjusted together (Holm), so
`drifted` is a statement about all the tests at once at the chosen alpha. The explanation clusters the embeddings
of both windows (k-means) and lists the clusters whose share grew or shrank most, with example prompts from the
current window when the policy stored text.

Rows without a sketch (written before m006 or with sketches off) take part in the tests on the audit row's own
figures (tokens, latency, cost) and are counted as unsketched.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import sqlalchemy as sa
from numpy.typing import NDArray

from weightwarden.errors import WardenError
from weightwarden.ledger import Ledger
from weightwarden.ledger import schema as tables
from weightwarden.monitor.sketch import dequantize, prompt_of
from weightwarden.monitor.twosample import (
    FloatArray,
    TestResult,
    category_test,
    classifier_test,
    holm,
    mmd_test,
    numeric_test,
    rate_test,
)
from weightwarden.monitor.window import Window

MIN_SAMPLE = 20  # fewer values than this on either side: the test is skipped, and the report says so
ANSWERED = 200

# Figures of the audit row itself, over answered requests, and of the sketch.
ROW_METRICS = {
    "prompt tokens": "prompt_tokens",
    "completion tokens": "completion_tokens",
    "latency ms": "total_ms",
    "cost USD": "cost_usd",
}
SKETCH_METRICS = {
    "prompt chars": "prompt_chars",
    "answer chars": "response_chars",
    "guard score, input": "guard_input",
    "guard score, output": "guard_output",
}


@dataclass
class Sample:
    """What one window holds, as arrays: one entry per request (metrics) or per sketched request (embeddings)."""

    requests: int
    metrics: dict[str, FloatArray]
    embeddings: FloatArray
    texts: list[str | None]
    refusals: NDArray[np.bool_]
    languages: list[str]

    @property
    def sketched(self) -> int:
        return len(self.embeddings)


@dataclass
class Cluster:
    """Prompts of one window with no close neighbour in the other: a topic that grew (new) or shrank (gone).

    share: the fraction of the window's sketched prompts in the cluster; expected: the fraction a window compared
    with itself puts past the same distance (the 95th percentile), so share well above it is real novelty.
    """

    direction: str
    share: float
    expected: float
    size: int
    terms: list[str] = field(default_factory=list)
    examples: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "direction": self.direction,
            "share": self.share,
            "expected": self.expected,
            "size": self.size,
            "terms": self.terms,
            "examples": self.examples,
        }


@dataclass
class DriftReport:
    """The tests (p-values adjusted together), whether any is significant at alpha, and the clusters that moved."""

    reference: Window | None
    current: Window | None
    alpha: float
    tests: list[TestResult]
    skipped: dict[str, str]
    clusters: list[Cluster]
    counts: dict[str, int]

    @property
    def drifted(self) -> bool:
        return any(t.p_adjusted < self.alpha for t in self.tests)

    @property
    def min_p(self) -> float:
        return min((t.p_adjusted for t in self.tests), default=1.0)

    def test(self, name: str) -> TestResult | None:
        return next((t for t in self.tests if t.name == name), None)

    def as_dict(self) -> dict[str, Any]:
        return {
            "reference": self.reference.as_dict() if self.reference else None,
            "current": self.current.as_dict() if self.current else None,
            "alpha": self.alpha,
            "drifted": self.drifted,
            "min_p_adjusted": self.min_p,
            "counts": self.counts,
            "tests": [t.as_dict() for t in self.tests],
            "skipped": self.skipped,
            "clusters": [c.as_dict() for c in self.clusters],
        }


def load_sample(ledger: Ledger, window: Window, *, model: str | None = None, max_rows: int = 5000) -> Sample:
    """A window's requests joined with their sketches; at most max_rows of them, drawn at random when there are more."""
    r, s = tables.requests, tables.request_sketches
    where = [r.c.time >= window.since, r.c.time < window.until]
    if model is not None:
        where.append(r.c.model == model)
    count = ledger.query("drift window size", sa.select(sa.func.count()).select_from(r).where(*where))[0]
    total = int(next(iter(count.values())))
    stmt = (
        sa.select(
            r.c.status,
            r.c.prompt_text,
            *(r.c[c] for c in ROW_METRICS.values()),
            s.c.request_id.label("sketched"),
            s.c.embedding,
            s.c.embedding_scale,
            s.c.language,
            s.c.refusal,
            *(s.c[c] for c in SKETCH_METRICS.values()),
        )
        .select_from(r.outerjoin(s, s.c.request_id == r.c.request_id))
        .where(*where)
    )
    if total > max_rows:
        # A request id is a ULID whose last 16 characters are random: ordering by them draws a random sample in
        # the database, the same one at every run.
        stmt = stmt.order_by(sa.func.substr(r.c.request_id, 11, 16)).limit(max_rows)
    rows = ledger.query("drift window", stmt)
    metrics: dict[str, FloatArray] = {}
    for name, column in ROW_METRICS.items():
        values = [row[column] for row in rows if row["status"] == ANSWERED and row[column] is not None]
        metrics[name] = np.asarray(values, dtype=np.float64)
    for name, column in SKETCH_METRICS.items():
        values = [row[column] for row in rows if row["sketched"] is not None and row[column] is not None]
        metrics[name] = np.asarray(values, dtype=np.float64)
    with_vectors = [row for row in rows if row["embedding"] is not None]
    vectors = [dequantize(row["embedding"], row["embedding_scale"]) for row in with_vectors]
    return Sample(
        requests=total,
        metrics=metrics,
        embeddings=np.vstack(vectors).astype(np.float64) if vectors else np.zeros((0, 0)),
        texts=[row["prompt_text"] for row in with_vectors],
        refusals=np.asarray([bool(row["refusal"]) for row in rows if row["refusal"] is not None], dtype=bool),
        languages=[row["language"] for row in rows if row["language"] is not None],
    )


_TERM = re.compile(r"[^\W\d_]{4,}", re.UNICODE)
NEIGHBOURS = 5


def _kth_distance(x: FloatArray, y: FloatArray, k: int, same: bool) -> FloatArray:
    """Cosine distance from each row of x to its k-th nearest row of y (itself excluded when x is y)."""
    sims = x @ y.T
    if same:
        np.fill_diagonal(sims, -np.inf)
    k = min(k, sims.shape[1] - (1 if same else 0))
    return np.asarray(1.0 - np.partition(sims, -k, axis=1)[:, -k], dtype=np.float64)


def _terms(members: Sequence[str], everything: Sequence[str], top: int = 6) -> list[str]:
    """The words that most set members apart from all prompts (log-odds, add-one smoothing), seen at least twice."""
    overall = Counter(w.lower() for t in everything for w in _TERM.findall(t))
    words = Counter(w.lower() for t in members for w in _TERM.findall(t))
    size, total = max(1, sum(words.values())), max(1, sum(overall.values()))
    lift = {w: math.log((n + 1) / size) - math.log((overall[w] + 1) / total) for w, n in words.items() if n >= 2}
    return sorted(lift, key=lambda w: (-lift[w], w))[:top]


def _novel(
    direction: str, x: FloatArray, x_texts: list[str], y: FloatArray, everything: list[str], seed: int
) -> list[Cluster]:
    """Rows of x farther from y than 95% of y's rows are from the rest of y, split into up to 3 groups (k-means)."""
    from sklearn.cluster import KMeans

    threshold = float(np.quantile(_kth_distance(y, y, NEIGHBOURS, same=True), 0.95))
    far = np.flatnonzero(_kth_distance(x, y, NEIGHBOURS, same=False) > threshold)
    share = len(far) / len(x)
    if share <= 0.05 or len(far) < MIN_SAMPLE:
        return []
    k = min(3, len(far) // MIN_SAMPLE)
    labels = KMeans(n_clusters=k, n_init=3, random_state=seed).fit_predict(x[far]) if k > 1 else np.zeros(len(far))
    out = []
    for c in range(k):
        members = far[labels == c]
        texts = [x_texts[i] for i in members if x_texts[i]]
        out.append(
            Cluster(
                direction=direction,
                share=len(members) / len(x),
                expected=0.05 * len(members) / len(far),
                size=len(members),
                terms=_terms(texts, everything),
                examples=[t[:160] for t in texts[:3]],
            )
        )
    return sorted(out, key=lambda cl: -cl.share)


def _clusters(reference: Sample, current: Sample, seed: int) -> list[Cluster]:
    """What grew (current prompts unlike any reference prompt) and what shrank (the reverse)."""
    if min(reference.sketched, current.sketched) < MIN_SAMPLE:
        return []
    ref_texts = [prompt_of(t) if t else "" for t in reference.texts]
    cur_texts = [prompt_of(t) if t else "" for t in current.texts]
    everything = ref_texts + cur_texts
    grew = _novel("new", current.embeddings, cur_texts, reference.embeddings, everything, seed)
    shrank = _novel("gone", reference.embeddings, ref_texts, current.embeddings, everything, seed)
    return grew + shrank


def compare(
    reference: Sample,
    current: Sample,
    *,
    alpha: float = 0.05,
    permutations: int = 200,
    max_embeddings: int = 1000,
    seed: int = 0,
    univariate: bool = True,
    explain: bool = True,
) -> DriftReport:
    """Run every test that has enough data on both sides; adjust their p-values together (Holm).

    max_embeddings: at most this many embeddings per window go into the multivariate tests (a random draw), as MMD
    costs memory in the square of the count.
    """
    rng = np.random.default_rng(seed)
    tests: list[TestResult] = []
    skipped: dict[str, str] = {}

    def enough(name: str, a: int, b: int) -> bool:
        if min(a, b) < MIN_SAMPLE:
            skipped[name] = f"{a} reference and {b} current values; each side needs {MIN_SAMPLE}"
            return False
        return True

    def draw(x: FloatArray) -> FloatArray:
        return x[np.sort(rng.choice(len(x), size=max_embeddings, replace=False))] if len(x) > max_embeddings else x

    if enough("embedding", reference.sketched, current.sketched):
        ref_x, cur_x = draw(reference.embeddings), draw(current.embeddings)
        tests.append(classifier_test(ref_x, cur_x, permutations=permutations, alpha=alpha, seed=seed))
        tests.append(mmd_test(ref_x, cur_x, permutations=permutations, seed=seed))
    if univariate:
        for name in (*ROW_METRICS, *SKETCH_METRICS):
            a, b = reference.metrics.get(name), current.metrics.get(name)
            if a is not None and b is not None and enough(name, len(a), len(b)):
                tests.append(numeric_test(name, a, b))
        if enough("refusal rate", len(reference.refusals), len(current.refusals)):
            tests.append(rate_test("refusal rate", reference.refusals, current.refusals))
        if enough("language", len(reference.languages), len(current.languages)):
            tests.append(category_test("language", reference.languages, current.languages))
    for test, adjusted in zip(tests, holm([t.p_value for t in tests]), strict=True):
        test.p_adjusted = adjusted
    groups = _clusters(reference, current, seed) if explain else []
    counts = {
        "reference_requests": reference.requests,
        "current_requests": current.requests,
        "reference_sketched": reference.sketched,
        "current_sketched": current.sketched,
    }
    return DriftReport(None, None, alpha, tests, skipped, groups, counts)


def drift(
    ledger: Ledger,
    reference: Window,
    current: Window,
    *,
    model: str | None = None,
    alpha: float = 0.05,
    permutations: int = 200,
    seed: int = 0,
) -> DriftReport:
    """Compare two windows of the ledger; see the module docstring for the tests."""
    if not 0 < alpha < 1:
        raise WardenError(f"alpha is {alpha}: give a significance level between 0 and 1, such as 0.05")
    if permutations < 19:
        raise WardenError(
            f"{permutations} permutations cannot give a p-value under 0.05: use at least 19 (200 is usual)"
        )
    ref = load_sample(ledger, reference, model=model)
    cur = load_sample(ledger, current, model=model)
    if ref.requests == 0 or cur.requests == 0:
        empty = "reference" if ref.requests == 0 else "current"
        raise WardenError(
            f"the {empty} window ({reference if empty == 'reference' else current}) has no requests"
            f"{f' for model {model}' if model else ''}: choose a window in which the gateway served traffic"
        )
    report = compare(ref, cur, alpha=alpha, permutations=permutations, seed=seed)
    report.reference, report.current = reference, current
    return report


def significant(tests: Sequence[TestResult], alpha: float) -> list[TestResult]:
    return [t for t in tests if t.p_adjusted < alpha]
