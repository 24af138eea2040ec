"""What the injection, jailbreak, harmful and toxicity detectors share: patterns and a learned head, combined."""

from __future__ import annotations

from dataclasses import dataclass, field

from weightwarden.guard.base import Span
from weightwarden.guard.classifier import LinearModel
from weightwarden.guard.embedding import EmbeddingModel
from weightwarden.guard.learned import LearnedScore, learned_scores
from weightwarden.guard.normalize import Text
from weightwarden.guard.patterns import Pattern, PatternHits, noisy_or, scan

LAYERS = frozenset({"patterns", "linear", "embedding"})


@dataclass
class Layers:
    """Which layers run: any of patterns, linear, embedding (bench/guard_quality.py measures each combination)."""

    model: LinearModel | None
    deep: EmbeddingModel | None = None
    enabled: frozenset[str] = field(default_factory=lambda: frozenset({"patterns", "linear"}))

    def patterns(self, text: Text, name: str, patterns: tuple[Pattern, ...]) -> PatternHits:
        if "patterns" not in self.enabled:
            return PatternHits()
        key = f"patterns:{name}"
        cached = text.cache.get(key)
        if isinstance(cached, PatternHits):
            return cached
        hits = scan(text, patterns)
        text.cache[key] = hits
        return hits

    def learned(self, text: Text, head: str) -> LearnedScore | None:
        if self.model is None or not ({"linear", "embedding"} & self.enabled):
            return None
        deep = self.deep if "embedding" in self.enabled else None
        if "linear" not in self.enabled and deep is not None:
            return _deep_only(text, deep, head)
        return learned_scores(text, self.model, deep).get(head)


def _deep_only(text: Text, deep: EmbeddingModel, head: str) -> LearnedScore | None:
    best: LearnedScore | None = None
    for view in text.views:
        if view.name not in ("original", "normalized"):
            continue
        hs = deep.score(view.text).get(head)
        if hs is None:
            continue
        s, e = view.to_original(hs.start, hs.end)
        if best is None or hs.score > best.score:
            orig = hs.score if view.name == "original" else (best.original if best else 0.0)
            best = LearnedScore(hs.score, s, e, view.name, orig)
    return best


@dataclass(frozen=True)
class Combined:
    score: float
    original: float  # the same evidence on the text as written, before decoding
    spans: list[Span]
    view: str
    details: dict[str, object]


def combine(text: Text, hits: PatternHits, learned: LearnedScore | None) -> Combined:
    """Patterns and the learned head as independent evidence (noisy-OR); spans from patterns, else the best window."""
    ls = learned.score if learned else 0.0
    score = noisy_or(hits.score, ls)
    original = noisy_or(hits.original_score, learned.original if learned else 0.0)
    spans = list(hits.spans)
    if not spans and learned is not None and ls >= 0.5:
        spans = [Span(learned.start, learned.end, text.raw[learned.start : learned.end], "learned")]
    view = hits.view if hits.score >= ls else (learned.view if learned else "original")
    details: dict[str, object] = {"pattern_score": round(hits.score, 4), "learned_score": round(ls, 4)}
    if hits.names:
        details["patterns"] = hits.names
    return Combined(score, original, spans, view, details)
