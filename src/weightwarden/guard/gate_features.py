"""The gate's featuriser: hashed character n-grams within words and hashed word n-grams, as scikit-learn's
HashingVectorizer makes them, the character part computed with numpy.

Split from encoder.py (2026-12-06): the gate's features are their own concern, and training/guard/loso.py builds
its features with the same make_vectorizer, so train and run time agree. Part of the scoring code whose hash the
guard's stored figures are tied to (weightwarden.guard.quality.SCORING_MODULES).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np


def make_vectorizer(
    n_features: int, ngram_min: int, ngram_max: int, word_shape: tuple[int, int, int] | None = None
) -> Any:
    """The gate's featuriser: hashed character n-grams within words, then (if `word_shape` is given) hashed word
    n-grams in their own columns, each part unit length. Training builds it with this same function, so train and
    run time agree."""
    from sklearn.feature_extraction.text import HashingVectorizer

    def hashing(analyzer: str, n: int, lo: int, hi: int) -> Any:
        return HashingVectorizer(
            analyzer=analyzer,
            ngram_range=(lo, hi),
            n_features=n,
            alternate_sign=False,
            norm="l2",
            lowercase=True,
            dtype=np.float32,
        )

    chars = CharWbHasher(hashing("char_wb", n_features, ngram_min, ngram_max))
    return chars if word_shape is None else Stacked((chars, hashing("word", *word_shape)))


_MURMUR_C1, _MURMUR_C2 = np.uint32(0xCC9E2D51), np.uint32(0x1B873593)


def _rotl(x: np.ndarray, r: int) -> np.ndarray:
    return np.asarray((x << np.uint32(r)) | (x >> np.uint32(32 - r)))


def murmur3_32(keys: np.ndarray) -> np.ndarray:
    """MurmurHash3 (x86, 32-bit, seed 0) of each row of `keys`, a (rows, length) uint8 array, as int32: what
    scikit-learn's HashingVectorizer computes for each feature's UTF-8 bytes (sklearn.utils.murmurhash3_32)."""
    rows, length = keys.shape
    h = np.zeros(rows, dtype=np.uint32)
    blocks = length // 4
    if blocks:
        words = np.ascontiguousarray(keys[:, : blocks * 4]).view("<u4")
        for b in range(blocks):
            k = _rotl(words[:, b] * _MURMUR_C1, 15) * _MURMUR_C2
            h = _rotl(h ^ k, 13) * np.uint32(5) + np.uint32(0xE6546B64)
    tail = length & 3
    if tail:
        k = np.zeros(rows, dtype=np.uint32)
        for j in range(tail):
            k ^= keys[:, blocks * 4 + j].astype(np.uint32) << np.uint32(8 * j)
        h ^= _rotl(k * _MURMUR_C1, 15) * _MURMUR_C2
    h ^= np.uint32(length)
    h ^= h >> np.uint32(16)
    h *= np.uint32(0x85EBCA6B)
    h ^= h >> np.uint32(13)
    h *= np.uint32(0xC2B2AE35)
    h ^= h >> np.uint32(16)
    return h.view(np.int32)


@dataclass(frozen=True)
class CharWbHasher:
    """scikit-learn's HashingVectorizer(analyzer="char_wb", lowercase, no accent stripping, alternate_sign=False,
    l2 norm), computed with numpy over all texts of a call at once: the same matrix, entry for entry (a test
    compares them on ASCII, accented, CJK, emoji and odd-whitespace texts).

    Why not scikit-learn's own: it builds every n-gram as a Python string and hashes them one at a time, 2.0 of the
    2.7 ms the gate took on a 512-token text on two cores (the whole pipeline's p50 there was 10.3 to 11.2 ms against
    a 10 ms target in bench/guard.py's runs of 2026-12-05, 22:16 and 22:17 UTC). The n-grams are the same: each
    word (split on whitespace, after lowercasing) padded with one space on each side, then every run of n characters
    inside it for n from min to max; each n-gram's UTF-8 bytes hashed with MurmurHash3, column |hash| mod n_features,
    counts summed, rows made unit length. A text Python cannot encode as UTF-8 (a lone surrogate) goes to
    scikit-learn, which decides what happens to it."""

    reference: Any  # the HashingVectorizer this reproduces (its settings, and the fallback)

    def transform(self, texts: list[str]) -> Any:
        from scipy import sparse

        ref = self.reference
        lo, hi = ref.ngram_range
        n_features = int(ref.n_features)
        parts: list[str] = []
        sizes: list[np.ndarray] = []
        for text in texts:
            words = text.lower().split()
            if words:
                parts.append(" " + "  ".join(words) + " ")  # each word with a space either side
                sizes.append(np.fromiter(map(len, words), dtype=np.int64, count=len(words)) + 2)
            else:
                sizes.append(np.zeros(0, dtype=np.int64))
        joined = "".join(parts)
        try:
            data = np.frombuffer(joined.encode("utf-8"), dtype=np.uint8)
        except UnicodeEncodeError:
            return ref.transform(texts)
        keys: list[np.ndarray] = []
        if joined:
            cp = np.frombuffer(joined.encode("utf-32-le"), dtype=np.uint32)
            size = np.concatenate(sizes)
            doc = np.repeat(np.repeat(np.arange(len(texts)), [len(z) for z in sizes]), size)
            end = np.repeat(np.cumsum(size), size)  # each character's word's end (exclusive)
            nbytes = 1 + (cp >= 0x80).astype(np.int64) + (cp >= 0x800) + (cp >= 0x10000)
            offset = np.r_[0, np.cumsum(nbytes)]
            ascii_only = int(offset[-1]) == len(cp)  # every n-gram is n bytes long
            pos = np.arange(len(cp))
            for n in range(lo, hi + 1):
                start = pos[pos + n <= end]
                if not len(start):
                    break  # no word is this long: none is longer
                blen = offset[start + n] - offset[start]
                for length in [n] if ascii_only else np.unique(blen):
                    sel = start[blen == length]
                    col = np.abs(murmur3_32(data[offset[sel][:, None] + np.arange(length)]).astype(np.int64))
                    keys.append(doc[sel] * n_features + col % n_features)
        key, count = np.unique(np.concatenate(keys) if keys else np.zeros(0, dtype=np.int64), return_counts=True)
        row = key // n_features
        # unit rows as scikit-learn's normalize makes them: each count squared in float32, the squares summed in
        # double (integers, so exact in any order), each count divided by the root in double and rounded to float32
        squares = (count.astype(np.float32) ** 2).astype(np.float64)
        norm = np.sqrt(np.bincount(row, weights=squares, minlength=len(texts)))
        indptr = np.r_[0, np.cumsum(np.bincount(row, minlength=len(texts)))].astype(np.int32)
        return sparse.csr_matrix(
            ((count / norm[row]).astype(np.float32), (key % n_features).astype(np.int32), indptr),
            shape=(len(texts), n_features),
        )


@dataclass(frozen=True)
class Stacked:
    """Several stateless featurisers side by side (columns in order), as one.

    scikit-learn's FeatureUnion gives the same matrix (checked 2026-12-05, identical entries), but its joblib
    dispatch cost about 0.26 ms more per call on the 2-core VM (1.62 against 1.36 ms for 8 texts), a fifth of the
    whole pipeline's p50 at 64 tokens; the gate runs on every scan."""

    parts: tuple[Any, ...]

    def transform(self, texts: list[str]) -> Any:
        from scipy import sparse

        return sparse.hstack([p.transform(texts) for p in self.parts], format="csr")
