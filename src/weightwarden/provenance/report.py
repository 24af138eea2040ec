"""A contamination check of one benchmark: the exact tests against a corpus, with membership scores as evidence."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from weightwarden.provenance.base import ProvenanceError
from weightwarden.provenance.bench import BenchItem
from weightwarden.provenance.corpus import Corpus, CorpusStats
from weightwarden.provenance.exact import CHARS, CONTAMINATED_AT, NGRAM, ItemOverlap, exact_overlap
from weightwarden.provenance.minkprob import DEFAULT_K, Membership, membership

VERDICTS = ("contaminated", "partial", "clean", "too short")


@dataclass
class ContaminationReport:
    """Per item: the exact verdict (None without a corpus) and membership scores (None without a model)."""

    items: list[BenchItem]
    overlaps: list[ItemOverlap] | None = None
    memberships: list[Membership] | None = None
    corpus: CorpusStats | None = None
    settings: dict[str, Any] = field(default_factory=dict)

    def counts(self) -> dict[str, int]:
        counts = dict.fromkeys(VERDICTS, 0)
        for o in self.overlaps or []:
            counts[o.verdict] += 1
        return counts

    def rows(self) -> list[dict[str, Any]]:
        rows = []
        for i, item in enumerate(self.items):
            row: dict[str, Any] = {"id": item.id}
            if self.overlaps is not None:
                row.update(self.overlaps[i].as_dict())
            if self.memberships is not None:
                row.update(self.memberships[i].as_dict())
            rows.append(row)
        return rows

    def as_dict(self) -> dict[str, Any]:
        return {
            "settings": self.settings,
            "counts": self.counts() if self.overlaps is not None else None,
            "corpus": self.corpus.as_dict() if self.corpus else None,
            "items": self.rows(),
        }


def check_contamination(
    items: Sequence[BenchItem],
    corpus: Corpus | None = None,
    runtime: object | None = None,
    *,
    k: float = DEFAULT_K,
    ngram: int = NGRAM,
    chars: int = CHARS,
    progress: Callable[[str, int, int | None], None] | None = None,
) -> ContaminationReport:
    """The exact tests when a corpus is given; Min-K% and Min-K%++ when a local runtime is given.

    progress: called with (phase, done, total), phase "corpus" (characters read, total unknown) or "model" (items).
    """
    if corpus is None and runtime is None:
        raise ProvenanceError("nothing to check against: give a training corpus (--train), a model (--model), or both")
    report = ContaminationReport(
        list(items), settings={"ngram": ngram, "chars": chars, "contaminated_at": CONTAMINATED_AT, "k": k}
    )
    if corpus is not None:
        report.overlaps = exact_overlap(
            items,
            corpus.blocks(),
            ngram=ngram,
            chars=chars,
            progress=(lambda done: progress("corpus", done, None)) if progress else None,
        )
        report.corpus = corpus.stats
    if runtime is not None:
        scores = []
        for i, item in enumerate(items):
            scores.append(membership(runtime, item.text, k))
            if progress:
                progress("model", i + 1, len(items))
        report.memberships = scores
    return report
