"""Learned scores of a text, computed once over all of its views and shared by every detector that needs them."""

from __future__ import annotations

from dataclasses import dataclass

from weightwarden.guard.classifier import LinearModel
from weightwarden.guard.embedding import EmbeddingModel
from weightwarden.guard.normalize import Text


@dataclass(frozen=True)
class LearnedScore:
    """A head's best score over all views, where it was found (on the caller's text), and its score as written.

    original: the best score on the text exactly as written; when `score` is far above it, decoding revealed it.
    """

    score: float
    start: int
    end: int
    view: str
    original: float
    layer: str = "linear"  # linear, embedding, encoder, or gate (stopped before the encoder: no evidence)
    gate: float | None = None  # the cascade gate's score, when the encoder layer ran


def learned_scores(text: Text, model: LinearModel, deep: EmbeddingModel | None = None) -> dict[str, LearnedScore]:
    """Each head's best window over every view of `text`; with `deep`, the embedding layer's score counts too."""
    key = f"learned:{model.sha256}:{deep.sha256 if deep else ''}"
    cached = text.cache.get(key)
    if isinstance(cached, dict):
        return cached
    best: dict[str, LearnedScore] = {}
    per_view: dict[str, dict[str, float]] = {}
    text.cache["learned_by_view"] = per_view
    for view in text.views:
        scores = model.score(view.text)
        # several segments may share a view name ("leet" in three places): keep each head's best
        prev_view = per_view.get(view.name, {})
        per_view[view.name] = {h: max(hs.score, prev_view.get(h, 0.0)) for h, hs in scores.items()}
        extra = deep.score(view.text) if deep is not None and view.name in ("original", "normalized") else {}
        for head, hs in scores.items():
            score, start, end = hs.score, hs.start, hs.end
            if head in extra and extra[head].score > score:
                score, start, end = extra[head].score, extra[head].start, extra[head].end
            s, e = view.to_original(start, end)
            prev = best.get(head)
            orig = score if view.name == "original" else (prev.original if prev else 0.0)
            if prev is None or score > prev.score:
                layer = "embedding" if head in extra and extra[head].score >= hs.score else "linear"
                best[head] = LearnedScore(score, s, e, view.name, max(orig, prev.original if prev else 0.0), layer)
            elif view.name == "original":
                best[head] = LearnedScore(
                    prev.score, prev.start, prev.end, prev.view, max(prev.original, orig), prev.layer
                )
    text.cache[key] = best
    return best
