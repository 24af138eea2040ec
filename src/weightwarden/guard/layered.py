"""What the injection, jailbreak, harmful and toxicity detectors share: patterns and a learned head, combined.

The default layers are the cascade in encoder.py (a hashed-n-gram gate, then heads on MiniLM's vectors and the default
model's first layers' (decoder.py)); the hand-written
patterns and the hashed-n-gram linear heads are older layers a policy can still name in `layers:`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from weightwarden.guard.base import Span
from weightwarden.guard.classifier import LinearModel
from weightwarden.guard.embedding import EmbeddingModel
from weightwarden.guard.encoder import EncoderModel
from weightwarden.guard.learned import LearnedScore, learned_scores
from weightwarden.guard.normalize import Text
from weightwarden.guard.patterns import Pattern, PatternHits, noisy_or, scan

LAYERS = frozenset({"patterns", "linear", "embedding", "gate", "encoder"})


@dataclass
class Layers:
    """Which layers run: any of patterns, linear, embedding (bench/guard_quality.py measures each combination)."""

    model: LinearModel | None
    deep: EmbeddingModel | None = None
    enabled: frozenset[str] = field(default_factory=lambda: frozenset({"patterns", "linear"}))
    encoder: EncoderModel | None = None

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
        """The learned evidence for `head`: the encoder cascade's, the older layers', or the stronger of both."""
        enc = self._encoder(text, head) if self.encoder is not None and "encoder" in self.enabled else None
        old = self._older(text, head)
        if enc is None:
            return old
        return old if old is not None and old.score > enc.score else enc

    def toxic(self, text: Text) -> LearnedScore | None:
        """The linear toxicity head (the encoder has none), whichever layers the policy chose for the others."""
        if self.model is None:
            return None
        return learned_scores(text, self.model, None).get("toxic")

    def _encoder(self, text: Text, head: str) -> LearnedScore | None:
        assert self.encoder is not None
        if head not in self.encoder.heads:
            return None
        key = "encoder:scores"
        cached = text.cache.get(key)
        if not isinstance(cached, tuple):
            cached = self.encoder.score(text.raw, use_gate="gate" in self.enabled)
            text.cache[key] = cached
        gate, scores = cached
        hs = scores[head]
        return LearnedScore(hs.score, hs.start, hs.end, "original", hs.score, hs.layer, float(gate))

    def _older(self, text: Text, head: str) -> LearnedScore | None:
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
            best = LearnedScore(hs.score, s, e, view.name, orig, "embedding")
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
    if (
        not spans
        and learned is not None
        and learned.end > learned.start
        and (ls >= 0.5 or learned.layer in ("encoder", "screen"))
    ):
        # the encoder's probabilities are calibrated and its thresholds sit below 0.5: the policy decides, not 0.5
        kind = "learned" if learned.layer in ("linear", "embedding") else learned.layer
        spans = [Span(learned.start, learned.end, text.raw[learned.start : learned.end], kind)]
    view = hits.view if hits.score >= ls else (learned.view if learned else "original")
    details: dict[str, object] = {"pattern_score": round(hits.score, 4), "learned_score": round(ls, 4)}
    # which layer decided: the stronger evidence, or the gate when it stopped the text before the encoder
    details["layer"] = "patterns" if hits.score > ls else (learned.layer if learned else "none")
    if learned is not None and learned.gate is not None:
        details["gate_score"] = round(learned.gate, 4)
    if learned is not None and learned.end > learned.start:
        details["best_span"] = [learned.start, learned.end]  # where the learned evidence is strongest, hit or not
    if hits.names:
        details["patterns"] = hits.names
    return Combined(score, original, spans, view, details)
