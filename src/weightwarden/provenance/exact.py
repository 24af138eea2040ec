"""Exact contamination tests: 13-word overlap (GPT-3's test) and 50-character overlap (GPT-4's) of each benchmark item
with a training corpus.

The index is built from the benchmark side, which is small; the corpus is streamed past it block by block, so memory
is bounded by the benchmark and one block, never by the corpus. An item's coverage is the fraction of its words (or
letters) inside some window that also occurs in the corpus.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from weightwarden.provenance.base import Span, merge_ranges
from weightwarden.provenance.bench import BenchItem
from weightwarden.provenance.corpus import Block
from weightwarden.provenance.ngrams import char_offsets, char_values, window_hashes, word_offsets, word_values

Verdict = Literal["contaminated", "partial", "clean", "too short"]

NGRAM = 13
CHARS = 50
_MAX_CARRY = 1000  # a "word" longer than this is cut anyway, so a file without spaces cannot fill memory
CONTAMINATED_AT = 0.5  # coverage from which an item counts as contaminated; any overlap below it is partial


@dataclass
class ItemOverlap:
    """One benchmark item against the corpus.

    word_coverage: share of the item's words inside a 13-gram found in the corpus; char_coverage: share of its letters
    and digits inside a 50-character window found in the corpus; spans: the overlapping parts of the item's own text.
    """

    id: str
    verdict: Verdict
    word_coverage: float
    char_coverage: float
    words: int
    chars: int
    spans: list[Span] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "verdict": self.verdict,
            "word_coverage": round(self.word_coverage, 4),
            "char_coverage": round(self.char_coverage, 4),
            "words": self.words,
            "chars": self.chars,
            "spans": [s.as_dict() for s in self.spans],
        }


@dataclass
class _Hashed:
    words: np.ndarray  # one hash per word n-gram, in order
    chars: np.ndarray  # one hash per character window, in order
    n_words: int
    n_chars: int


class BenchIndex:
    """The hashed windows of every benchmark item, and which of them a corpus has shown so far."""

    def __init__(self, items: Sequence[BenchItem], ngram: int = NGRAM, chars: int = CHARS) -> None:
        if ngram < 2 or chars < 2:
            raise ValueError(f"windows of {ngram} words and {chars} characters: both must be at least 2")
        self.items = list(items)
        self.ngram = ngram
        self.chars = chars
        self._hashed = [self._hash(item.text) for item in self.items]
        self._word_keys = np.unique(np.concatenate([h.words for h in self._hashed] or [np.zeros(0, np.uint64)]))
        self._char_keys = np.unique(np.concatenate([h.chars for h in self._hashed] or [np.zeros(0, np.uint64)]))
        self._word_seen = np.zeros(self._word_keys.shape[0], dtype=bool)
        self._char_seen = np.zeros(self._char_keys.shape[0], dtype=bool)
        self._word_sieve = _sieve(self._word_keys)
        self._char_sieve = _sieve(self._char_keys)

    def _hash(self, text: str) -> _Hashed:
        w, c = word_values(text), char_values(text)
        return _Hashed(window_hashes(w, self.ngram), window_hashes(c, self.chars), w.shape[0], c.shape[0])

    @staticmethod
    def _mark(keys: np.ndarray, seen: np.ndarray, hashes: np.ndarray, sieve: np.ndarray) -> None:
        if keys.shape[0] == 0 or hashes.shape[0] == 0:
            return
        # the sieve (one bit per top-bits bucket) rejects almost every corpus window with one memory access, so the
        # binary search runs on the few that might match
        shift = np.uint64(64 - (sieve.shape[0].bit_length() - 1))
        hashes = hashes[sieve[hashes >> shift]]
        if hashes.shape[0] == 0:
            return
        where = np.searchsorted(keys, hashes)
        where[where == keys.shape[0]] = 0
        seen[where[keys[where] == hashes]] = True

    def scan(self, blocks: Iterable[Block], progress: Callable[[int], None] | None = None) -> None:
        """Stream corpus blocks past the index; a window spanning two blocks of one document is seen too.

        Blocks may be cut anywhere, even inside a word: the unfinished word is carried to the next block.
        progress: called with the characters read so far, after each block.
        """
        tails = (np.zeros(0, dtype=np.uint64), np.zeros(0, dtype=np.uint64))
        carry, done = "", 0
        for block in blocks:
            if block.first:
                if carry:
                    self._feed(carry, tails)
                tails, carry = (tails[0][:0], tails[1][:0]), ""
            text = carry + block.text
            cut = len(text)
            while cut > 0 and text[cut - 1].isalnum() and len(text) - cut < _MAX_CARRY:
                cut -= 1
            carry = text[cut:]
            tails = self._feed(text[:cut], tails)
            done += len(block.text)
            if progress is not None:
                progress(done)
        if carry:
            self._feed(carry, tails)

    def _feed(self, text: str, tails: tuple[np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """Mark the windows of text, continuing the previous text of its document; returns the new tails."""
        w = np.concatenate([tails[0], word_values(text)])
        c = np.concatenate([tails[1], char_values(text)])
        self._mark(self._word_keys, self._word_seen, window_hashes(w, self.ngram), self._word_sieve)
        self._mark(self._char_keys, self._char_seen, window_hashes(c, self.chars), self._char_sieve)
        return w[-(self.ngram - 1) :], c[-(self.chars - 1) :]

    def _found(self, keys: np.ndarray, seen: np.ndarray, hashes: np.ndarray) -> np.ndarray:
        if hashes.shape[0] == 0:
            return np.zeros(0, dtype=bool)
        return np.asarray(seen[np.searchsorted(keys, hashes)], dtype=bool)

    def results(self) -> list[ItemOverlap]:
        """Each item's verdict, coverage and overlapping spans, from what scan has seen."""
        return [self._result(item, hashed) for item, hashed in zip(self.items, self._hashed, strict=True)]

    def _result(self, item: BenchItem, h: _Hashed) -> ItemOverlap:
        if h.words.shape[0] == 0 and h.chars.shape[0] == 0:
            return ItemOverlap(item.id, "too short", 0.0, 0.0, h.n_words, h.n_chars)
        word_hit = _covered(self._found(self._word_keys, self._word_seen, h.words), self.ngram, h.n_words)
        char_hit = _covered(self._found(self._char_keys, self._char_seen, h.chars), self.chars, h.n_chars)
        ranges: list[tuple[int, int]] = []
        if word_hit.any():
            offsets = word_offsets(item.text)
            ranges += [(offsets[a][0], offsets[b - 1][1]) for a, b in _runs(word_hit)]
        if char_hit.any():
            pos = char_offsets(item.text)
            ranges += [(int(pos[a]), int(pos[b - 1]) + 1) for a, b in _runs(char_hit)]
        spans = [Span(a, b, item.text[a:b]) for a, b in merge_ranges(ranges)]
        word_cov = float(word_hit.mean()) if h.n_words else 0.0
        char_cov = float(char_hit.mean()) if h.n_chars else 0.0
        # an item too short for one test is judged by the other alone
        coverage = max(word_cov if h.words.shape[0] else 0.0, char_cov if h.chars.shape[0] else 0.0)
        verdict: Verdict = "contaminated" if coverage >= CONTAMINATED_AT else ("partial" if spans else "clean")
        return ItemOverlap(item.id, verdict, word_cov, char_cov, h.n_words, h.n_chars, spans)


def _sieve(keys: np.ndarray) -> np.ndarray:
    """A bool per bucket of the hashes' top bits, True where some key falls: about 64 buckets per key (1.5% false
    passes), at most 2^26 (64 MB) and at least 2^10."""
    bits = int(min(26, max(10, math.ceil(math.log2(max(1, keys.shape[0]) * 64)))))
    sieve = np.zeros(1 << bits, dtype=bool)
    sieve[keys >> np.uint64(64 - bits)] = True
    return sieve


def _covered(found: np.ndarray, width: int, length: int) -> np.ndarray:
    """Which of length elements lie inside a found window (windows start at each index of found)."""
    hit = np.zeros(length + 1, dtype=np.int64)
    starts = np.flatnonzero(found)
    np.add.at(hit, starts, 1)
    np.add.at(hit, starts + width, -1)
    return np.cumsum(hit[:length]) > 0


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """[start, end) of each run of True in mask."""
    edges = np.flatnonzero(np.diff(np.concatenate([[0], mask.astype(np.int8), [0]])))
    return [(int(a), int(b)) for a, b in zip(edges[::2], edges[1::2], strict=True)]


def exact_overlap(
    items: Sequence[BenchItem],
    blocks: Iterable[Block],
    *,
    ngram: int = NGRAM,
    chars: int = CHARS,
    progress: Callable[[int], None] | None = None,
) -> list[ItemOverlap]:
    """Check every item against the corpus blocks with both exact tests."""
    index = BenchIndex(items, ngram, chars)
    index.scan(blocks, progress)
    return index.results()
