"""Hashed character and word n-grams, computed with numpy in one pass (no Python loop over characters).

A polynomial prefix hash over the code points gives the hash of any substring in O(1), so every character n-gram,
word and word pair of a text is hashed with a few vectorised operations. The same function builds the training
matrix and scores text at run time, so the two cannot drift apart.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from weightwarden.formulas.hashing import P as _P
from weightwarden.formulas.hashing import substring_hashes
from weightwarden.guard.normalize import codepoints

_MIX = np.uint64(0x9E3779B97F4A7C15)
_CHAR_ORDERS = (2, 3, 4, 5)
# Different salts per feature family so "ab" the bigram and "ab" the word land in different buckets.
_SALTS = {n: np.uint64((0x51ED2701 * (n + 1)) & 0xFFFFFFFFFFFFFFFF) for n in (*_CHAR_ORDERS, 100, 101)}


def _finalize(h: np.ndarray, salt: np.uint64, bits: int) -> np.ndarray:
    with np.errstate(over="ignore"):
        h = (h ^ salt) * _MIX
        h ^= h >> np.uint64(31)
        h *= _MIX
    return (h >> np.uint64(64 - bits)).astype(np.int64)


@dataclass(frozen=True)
class Hashed:
    """Feature buckets of a text and the character position where each feature starts (for windowing)."""

    buckets: np.ndarray
    positions: np.ndarray
    word_hashes: np.ndarray  # raw 64-bit hashes of each word, for lexicon look-ups
    word_starts: np.ndarray
    word_ends: np.ndarray
    blocks: tuple[int, ...] = ()  # where each feature family starts in `buckets`; positions ascend within a block


def word_bounds(cps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Start and end indices of runs of letters and digits (non-ASCII letters count as letters)."""
    is_word = ((cps >= 97) & (cps <= 122)) | ((cps >= 48) & (cps <= 57)) | ((cps >= 65) & (cps <= 90)) | (cps >= 0xC0)
    if not len(is_word):
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty
    padded = np.concatenate(([False], is_word, [False]))
    edges = np.flatnonzero(padded[1:] != padded[:-1])
    return edges[0::2], edges[1::2]


def hash_words(prefix: np.ndarray, pw: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):
        return np.asarray(prefix[ends] - prefix[starts] * pw[ends - starts], dtype=np.uint64)


def featurize(text: str, bits: int) -> Hashed:
    """Hash every char 2..5-gram, word and word pair of `text` (expected lowercased) into 2**bits buckets."""
    cps = codepoints(text)
    n = len(cps)
    prefix, pw = substring_hashes(cps)
    buckets: list[np.ndarray] = []
    positions: list[np.ndarray] = []
    for order in _CHAR_ORDERS:
        if n < order:
            continue
        starts = np.arange(n - order + 1)
        with np.errstate(over="ignore"):
            h = prefix[starts + order] - prefix[starts] * pw[order]
        buckets.append(_finalize(h, _SALTS[order], bits))
        positions.append(starts)
    ws, we = word_bounds(cps)
    wh = hash_words(prefix, pw, ws, we)
    if len(wh):
        buckets.append(_finalize(wh, _SALTS[100], bits))
        positions.append(ws)
    if len(wh) > 1:
        with np.errstate(over="ignore"):
            pairs = wh[:-1] * np.uint64(_P) + wh[1:]
        buckets.append(_finalize(pairs, _SALTS[101], bits))
        positions.append(ws[:-1])
    if not buckets:
        empty = np.zeros(0, dtype=np.int64)
        return Hashed(empty, empty, wh, ws, we)
    blocks = tuple(int(x) for x in np.cumsum([0] + [len(b) for b in buckets[:-1]]))
    return Hashed(np.concatenate(buckets), np.concatenate(positions), wh, ws, we, blocks)


def term_hash(term: str) -> int:
    """The 64-bit hash `featurize` gives a word, or a space-joined phrase of words, after lowercasing."""
    words = term.lower().split()
    hashes: list[int] = []
    for w in words:
        cps = codepoints(w)
        prefix, pw = substring_hashes(cps)
        hashes.append(int(hash_words(prefix, pw, np.array([0]), np.array([len(cps)]))[0]))
    return phrase_hash(hashes)


def phrase_hash(word_hashes: list[int]) -> int:
    h = 0
    for w in word_hashes:
        h = (h * _P + w) & 0xFFFFFFFFFFFFFFFF
    return h


def phrase_hashes(wh: np.ndarray, n: int) -> np.ndarray:
    """Hashes of every run of n consecutive words, consistent with `phrase_hash`."""
    if len(wh) < n:
        return np.zeros(0, dtype=np.uint64)
    with np.errstate(over="ignore"):
        h = np.zeros(len(wh) - n + 1, dtype=np.uint64)
        for k in range(n):
            h = h * np.uint64(_P) + wh[k : len(wh) - n + 1 + k]
    return h
