"""Toxic language (output side by default): insults, threats, harassment and slurs; a learned head plus a hashed
lexicon of profanity graded by severity (surge-ai's list, MIT; only 64-bit hashes of its terms are shipped)."""

from __future__ import annotations

from weightwarden.guard.base import Finding, ScanContext, Side, Span
from weightwarden.guard.classifier import lower
from weightwarden.guard.features import featurize
from weightwarden.guard.layered import Layers
from weightwarden.guard.normalize import Text
from weightwarden.guard.patterns import noisy_or


class ToxicityDetector:
    name = "toxicity"
    label = "toxic"
    description = "Toxic language: insults, threats, harassment, slurs and severe profanity."
    sides: tuple[Side, ...] = ("input", "output")

    def __init__(self, layers: Layers) -> None:
        self.layers = layers

    def detect(self, text: Text, context: ScanContext) -> Finding:
        model = self.layers.model
        spans: list[Span] = []
        lex_score = 0.0
        if model is not None and {"patterns", "encoder"} & self.layers.enabled:
            view = text.normalized
            hits = model.lexicon_hits(featurize(lower(view.text[:1_000_000]), model.bits))
            lex_score = noisy_or(*[sev for _, _, sev in hits]) if hits else 0.0
            for s, e, sev in sorted(hits)[:32]:
                os_, oe = view.to_original(s, e)
                spans.append(Span(os_, oe, text.raw[os_:oe], f"lexicon:{sev:.2f}"))
        learned = self.layers.toxic(text) if "encoder" in self.layers.enabled else self.layers.learned(text, "toxic")
        ls = learned.score if learned else 0.0
        score = noisy_or(lex_score, ls)
        if not spans and learned is not None and ls >= 0.5:
            spans = [Span(learned.start, learned.end, text.raw[learned.start : learned.end], "learned")]
        details = {"lexicon_score": round(lex_score, 4), "learned_score": round(ls, 4)}
        return Finding(score, tuple(spans), self.label, details)
