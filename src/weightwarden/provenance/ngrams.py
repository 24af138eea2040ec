"""Normalised text and 64-bit hashes of its word n-grams and character windows, vectorised with NumPy.

Words are maximal runs of letters and digits, lowercased; punctuation and spacing do not count. Characters, for the
50-character test, are the letters and digits alone, lowercased (spaces and symbols removed, as in GPT-4's report).
A window's hash is a polynomial hash of its mixed elements modulo 2^64, computed for every window of a block with
two prefix sums, then mixed again. Word hashes use Python's per-process string hash, so hashes are comparable within
one run only (both sides are always hashed in the same run). With about 10^5 benchmark windows against 10^9 corpus
windows, the chance of any false match is about 10^-5.
"""

from __future__ import annotations

import re

import numpy as np

WORD = re.compile(r"[^\W_]+")
NOT_ALNUM = re.compile(r"[\W_]+")
_P = 0x100000001B3  # an odd multiplier, so it has an inverse modulo 2^64
_P_INV = pow(_P, -1, 1 << 64)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)


def _mix(z: np.ndarray) -> np.ndarray:
    z = (z ^ (z >> np.uint64(30))) * _M1
    z = (z ^ (z >> np.uint64(27))) * _M2
    out: np.ndarray = z ^ (z >> np.uint64(31))
    return out


class _Powers:
    """P^i and P^-i modulo 2^64 for i < n, grown on demand."""

    def __init__(self) -> None:
        self.up = np.ones(1, dtype=np.uint64)
        self.down = np.ones(1, dtype=np.uint64)

    def get(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        if self.up.shape[0] < n:
            size = max(n, 2 * self.up.shape[0])
            self.up = np.cumprod(np.full(size, _P, dtype=np.uint64), dtype=np.uint64) * np.uint64(_P_INV)
            self.down = np.cumprod(np.full(size, _P_INV, dtype=np.uint64), dtype=np.uint64) * np.uint64(_P)
        return self.up[:n], self.down[:n]


_POWERS = _Powers()


def window_hashes(values: np.ndarray, n: int) -> np.ndarray:
    """A uint64 hash of every window values[i : i + n]; empty when there are fewer than n values."""
    count = values.shape[0] - n + 1
    if count <= 0:
        return np.zeros(0, dtype=np.uint64)
    up, down = _POWERS.get(values.shape[0])
    mixed = _mix(values.astype(np.uint64) + np.uint64(0x9E3779B97F4A7C15))
    prefix = np.zeros(values.shape[0] + 1, dtype=np.uint64)
    np.cumsum(mixed * down, dtype=np.uint64, out=prefix[1:])
    # (prefix[i+n] - prefix[i]) * P^i = sum over k < n of mixed[i+k] * P^-k: the same polynomial for every window
    return _mix((prefix[n:] - prefix[:count]) * up[:count] + np.uint64(n))


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
