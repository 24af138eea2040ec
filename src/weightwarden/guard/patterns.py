"""The fast layer: hand-written regular expressions, run over every view of a text, with a keyword pre-filter.

A pattern only runs when one of its keywords occurs in the view (a substring search in C), so an ordinary text
pays for a handful of `in` checks instead of dozens of regex scans. Every quantifier is bounded, so no pattern can
backtrack catastrophically on hostile input.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from weightwarden.guard.base import Span
from weightwarden.guard.normalize import Text, View

MAX_MATCHES = 16
_TOKEN = re.compile(r"[a-z0-9]+")


def probe(word: str) -> str:
    """What a keyword is looked up as: its first five letters (vocabularies hold words and 3-5 letter prefixes)."""
    return word[:5]


@dataclass(frozen=True)
class KeyPlan:
    """Keys sorted by how they are checked: single words (or word prefixes) by set look-up, phrases by all of their
    words (grouped by first word), keys with symbols ("<|", "](http") by substring search. A pre-filter: a key
    that is present lets the regex run; a key that is not rules the pattern out."""

    words: frozenset[str]
    phrases: dict[str, tuple[tuple[str, ...], ...]]
    substrings: tuple[str, ...]

    @classmethod
    def of(cls, keys: tuple[str, ...]) -> KeyPlan:
        words: set[str] = set()
        phrases: dict[str, list[tuple[str, ...]]] = {}
        subs: list[str] = []
        for key in keys:
            parts = key.split()
            if key == key.strip() and all(_TOKEN.fullmatch(p) for p in parts):
                if len(parts) == 1:
                    words.add(probe(key))
                else:
                    phrases.setdefault(probe(parts[0]), []).append(tuple(probe(p) for p in parts[1:]))
            else:
                subs.append(key)
        return cls(frozenset(words), {k: tuple(v) for k, v in phrases.items()}, tuple(subs))

    def present(self, vocab: frozenset[str], low: str) -> bool:
        if not self.words.isdisjoint(vocab):
            return True
        for first in self.phrases.keys() & vocab:
            if any(all(w in vocab for w in rest) for rest in self.phrases[first]):
                return True
        return any(s in low for s in self.substrings)


def vocabulary(low: str) -> frozenset[str]:
    """The words of a lowercased text with their 3-, 4- and 5-letter prefixes (what `probe` looks up)."""
    words = set(_TOKEN.findall(low))
    return frozenset(words | {w[:3] for w in words} | {w[:4] for w in words} | {w[:5] for w in words})


@dataclass(frozen=True)
class Pattern:
    """A regex with its score, run only when one of `keys` (lowercase substrings) occurs.

    near: raises the score to `near_score` when it also matches within `reach` characters of the match.
    unless: lowers the score to `unless_score` when the match contains it (a user's own 'my previous instructions').
    """

    name: str
    regex: re.Pattern[str]
    score: float
    keys: tuple[str, ...]
    near: re.Pattern[str] | None = None
    also: tuple[str, ...] = ()  # when given, one of these must occur too before the regex runs
    near_score: float = 0.0
    reach: int = 200
    unless: re.Pattern[str] | None = None
    unless_score: float = 0.0
    # the keyword plans, built once with the pattern (a lazily filled module-level dict raced under threads)
    plans: tuple[KeyPlan, KeyPlan | None] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "plans", (KeyPlan.of(self.keys), KeyPlan.of(self.also) if self.also else None))

    def score_match(self, view_text: str, m: re.Match[str]) -> float:
        score = self.score
        if self.unless is not None and self.unless.search(m.group(0)):
            score = self.unless_score
        if self.near is not None:
            lo, hi = max(0, m.start() - self.reach), min(len(view_text), m.end() + self.reach)
            if self.near.search(view_text, lo, hi):
                score = max(score, self.near_score)
        return score


def rx(pattern: str, flags: int = re.IGNORECASE) -> re.Pattern[str]:
    return re.compile(pattern, flags)


def k(words: str) -> tuple[str, ...]:
    """Keywords from a space-separated string."""
    return tuple(words.split())


def pairs(first: tuple[str, ...], second: tuple[str, ...], sep: str = " ") -> tuple[str, ...]:
    """Every `a + sep + b`: keyword phrases for patterns whose words are common alone but rare together."""
    return tuple(f"{a}{sep}{b}" for a in first for b in second)


@dataclass
class PatternHits:
    """The best pattern score over all views, the spans that matched (on the caller's text), and where."""

    score: float = 0.0
    spans: list[Span] = field(default_factory=list)
    names: list[str] = field(default_factory=list)
    view: str = "original"
    original_score: float = 0.0  # best score on the text as written, before any decoding


def scan(text: Text, patterns: tuple[Pattern, ...], views: list[View] | None = None, floor: float = 0.3) -> PatternHits:
    """Run `patterns` over `views` (default: every pattern view of the text); spans for matches scoring >= floor."""
    hits = PatternHits()
    seen: set[tuple[int, int, str]] = set()
    for view in text.pattern_views if views is None else views:
        low = text.lower(view)
        vocab = text.vocabulary(view)
        for p in patterns:
            keys, also = p.plans
            if not keys.present(vocab, low) or (also is not None and not also.present(vocab, low)):
                continue
            for k, m in enumerate(p.regex.finditer(view.text)):
                if k >= MAX_MATCHES:
                    break
                s = p.score_match(view.text, m)
                if view.name == "original":
                    hits.original_score = max(hits.original_score, s)
                if s > hits.score:
                    hits.score, hits.view = s, view.name
                if s >= floor:
                    start, end = view.to_original(m.start(), m.end())
                    key = (start, end, p.name)
                    if key not in seen:
                        seen.add(key)
                        hits.spans.append(Span(start, end, text.raw[start:end], p.name))
                        if p.name not in hits.names:
                            hits.names.append(p.name)
    hits.spans.sort(key=lambda sp: (sp.start, sp.end))
    return hits


def noisy_or(*scores: float) -> float:
    """Evidence from independent layers: 1 - prod(1 - s)."""
    out = 1.0
    for s in scores:
        out *= 1.0 - min(max(s, 0.0), 1.0)
    return 1.0 - out
