"""Normalised text and 64-bit hashes of its word n-grams and character windows, vectorised with NumPy.

Words are maximal runs of letters and digits, lowercased; punctuation and spacing do not count. Characters, for the
50-character test, are the letters and digits alone, lowercased (spaces and symbols removed, as in GPT-4's report).
A window's hash is a polynomial hash of its mixed elements modulo 2^64, computed for every window of a block with
one prefix sum, then mixed again (formulas/hashing.py). Word hashes use Python's per-process string hash, so hashes
are comparable within one run only (both sides are always hashed in the same run). With about 10^5 benchmark
windows against 10^9 corpus windows, the chance of any false match is about 10^-5.
"""

from __future__ import annotations

import re

import numpy as np

from weightwarden.formulas.hashing import window_hashes

__all__ = ["WORD", "char_offsets", "char_values", "window_hashes", "word_offsets", "word_values", "words"]

WORD = re.compile(r"[^\W_]+")
NOT_ALNUM = re.compile(r"[\W_]+")
_ASCII_ALNUM = b"0123456789abcdefghijklmnopqrstuvwxyz"
_ASCII_OTHER = bytes(b for b in range(128) if b not in _ASCII_ALNUM)
_TO_SPACE = bytes.maketrans(_ASCII_OTHER, b" " * len(_ASCII_OTHER))


def words(text: str) -> list[bytes]:
    """The normalised words of text, as UTF-8 bytes (ASCII text takes a path about ten times faster than a regex)."""
    low = text.lower()
    if low.isascii():
        return low.encode("ascii").translate(_TO_SPACE).split()
    return [w.encode("utf-8") for w in WORD.findall(low)]


def word_values(text: str) -> np.ndarray:
    """A uint64 per normalised word of text."""
    found = words(text)
    return np.fromiter(map(hash, found), dtype=np.int64, count=len(found)).view(np.uint64)


def char_values(text: str) -> np.ndarray:
    """A uint64 per letter or digit of text, lowercased: its code point."""
    low = text.lower()
    if low.isascii():
        return np.frombuffer(low.encode("ascii").translate(None, _ASCII_OTHER), dtype=np.uint8).astype(np.uint64)
    kept = NOT_ALNUM.sub("", low)
    return np.frombuffer(kept.encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)


def word_offsets(text: str) -> list[tuple[int, int]]:
    """[start, end) of each normalised word in text (lowercasing can change lengths, so match on the original)."""
    return [m.span() for m in WORD.finditer(text)] if len(text.lower()) == len(text) else _offsets_slow(text)


def _offsets_slow(text: str) -> list[tuple[int, int]]:
    # a few characters (such as 'İ') lowercase to two: find the words of each original word separately
    spans: list[tuple[int, int]] = []
    for m in WORD.finditer(text):
        spans.extend((m.start(), m.end()) for _ in WORD.findall(m.group().lower()))
    return spans


def char_offsets(text: str) -> np.ndarray:
    """The position in text of each character char_values(text) keeps."""
    positions: list[int] = []
    for i, ch in enumerate(text):
        low = ch.lower()
        positions.extend(i for _ in NOT_ALNUM.sub("", low))
    return np.asarray(positions, dtype=np.int64)
