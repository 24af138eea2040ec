"""The learned layer: logistic regression heads over hashed n-grams, scored over sliding windows of the text.

A window's feature vector marks which hashed n-grams occur in it, scaled to unit length (1/sqrt(number present)),
so repeating a sentence a thousand times scores like writing it once. The text's score is its best window, so a
long text is scanned all the way through and an injection buried in a long document is not diluted by the rest.
The bias of each head is shifted at training time so that 0.5 is the calibrated threshold.
"""

from __future__ import annotations

import hashlib
import itertools
import math
import zipfile
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np

from weightwarden.guard.base import GuardModelError
from weightwarden.guard.features import Hashed, featurize

FORMAT_VERSION = 2  # 2: presence features scaled to unit length (1 was counts / sqrt(total))
LINEAR_FILE = "linear.npz"
CHUNK = 1 << 16  # characters featurised at once, so a 10 MB text never builds 10 MB-long arrays


@dataclass(frozen=True)
class HeadScore:
    """The best window for one head: probability, logit, and the window's [start, end) in the scored string."""

    score: float
    logit: float
    start: int
    end: int


def sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-max(min(x, 50.0), -50.0)))


def lower(text: str) -> str:
    """Lowercase without changing length (the rare characters whose lowercase is longer are kept as they are)."""
    low = text.lower()
    if len(low) == len(text):
        return low
    return "".join(c if len(c.lower()) != 1 else c.lower() for c in text)


@dataclass(frozen=True)
class LinearModel:
    """Loaded weights: `weights[head, bucket]`, one bias per head, the window geometry, and the toxicity lexicon."""

    heads: tuple[str, ...]
    weights: np.ndarray
    bias: np.ndarray
    bits: int
    window: int
    stride: int
    lexicon_hashes: np.ndarray
    lexicon_severity: np.ndarray
    sha256: str

    @classmethod
    def load(cls, path: Path) -> LinearModel:
        try:
            blob = path.read_bytes()
            with np.load(path, allow_pickle=False) as z:
                version = int(z["version"])
                if version != FORMAT_VERSION:
                    raise GuardModelError(
                        f"{path} is guard weights format {version}, this code reads {FORMAT_VERSION}: "
                        "retrain with training/guard/older/run.py or reinstall weightwarden"
                    )
                return cls(
                    heads=tuple(str(h) for h in z["heads"]),
                    # heads-major, so gathering a text's buckets and summing along them are contiguous reads
                    weights=np.ascontiguousarray(z["weights"].astype(np.float32).T),
                    bias=z["bias"].astype(np.float32),
                    bits=int(z["bits"]),
                    window=int(z["window"]),
                    stride=int(z["stride"]),
                    lexicon_hashes=z["lexicon_hashes"].astype(np.uint64),
                    lexicon_severity=z["lexicon_severity"].astype(np.float32),
                    sha256=hashlib.sha256(blob).hexdigest(),
                )
        except (OSError, KeyError, ValueError, zipfile.BadZipFile, EOFError) as exc:  # BadZipFile: truncated
            raise GuardModelError(f"cannot load the guard weights {path}: {exc}; reinstall weightwarden") from None

    def head_index(self, head: str) -> int:
        return self.heads.index(head)

    def window_logits(self, hashed: Hashed, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Logits (windows x heads) and the windows' starts and ends for a featurised string of n characters."""
        heads = len(self.heads)
        if n <= self.window:
            starts, ends = np.array([0]), np.array([n])
        else:
            starts = np.unique(np.minimum(np.arange(0, n - self.window + self.stride, self.stride), n - self.window))
            ends = starts + self.window
        bounds = [*hashed.blocks, len(hashed.buckets)]
        # within a feature block positions ascend, so each window's features are one slice per block
        cuts = [
            (lo + np.searchsorted(hashed.positions[lo:hi], starts), lo + np.searchsorted(hashed.positions[lo:hi], ends))
            for lo, hi in itertools.pairwise(bounds)
        ]
        logits = np.full((len(starts), heads), -50.0)
        for w in range(len(starts)):
            parts = [hashed.buckets[a[w] : b[w]] for a, b in cuts]
            present = _distinct(np.concatenate(parts)) if parts else np.zeros(0, np.int64)
            if len(present):  # an empty window (no features) is no evidence of anything: it keeps -50
                logits[w] = np.take(self.weights, present, axis=1).sum(axis=1) / math.sqrt(len(present)) + self.bias
        return logits, starts, ends

    def score(self, text: str) -> dict[str, HeadScore]:
        """Each head's best window over the whole text (lowercased here), processed in bounded chunks."""
        low = lower(text)
        n = len(low)
        best: dict[str, HeadScore] = {}
        step = max(CHUNK - self.window, self.stride)
        offset = 0
        while True:
            piece = low[offset : offset + CHUNK]
            hashed = featurize(piece, self.bits)
            logits, starts, ends = self.window_logits(hashed, len(piece))
            top = logits.argmax(axis=0)
            for h, head in enumerate(self.heads):
                lg = float(logits[top[h], h])
                if head not in best or lg > best[head].logit:
                    best[head] = HeadScore(sigmoid(lg), lg, offset + int(starts[top[h]]), offset + int(ends[top[h]]))
            if offset + CHUNK >= n:
                break
            offset += step
        return best

    def lexicon_hits(self, hashed: Hashed, max_words: int = 3) -> list[tuple[int, int, float]]:
        """(start, end, severity) of every lexicon word or phrase found, from `featurize`'s word hashes."""
        from weightwarden.guard.features import phrase_hashes

        out: list[tuple[int, int, float]] = []
        if not len(self.lexicon_hashes):
            return out
        for k in range(1, max_words + 1):
            ph = phrase_hashes(hashed.word_hashes, k)
            if not len(ph):
                break
            idx = np.searchsorted(self.lexicon_hashes, ph)
            idx = np.minimum(idx, len(self.lexicon_hashes) - 1)
            hit = np.flatnonzero(self.lexicon_hashes[idx] == ph)
            for i in hit:
                out.append(
                    (int(hashed.word_starts[i]), int(hashed.word_ends[i + k - 1]), float(self.lexicon_severity[idx[i]]))
                )
        return out


def _distinct(values: np.ndarray) -> np.ndarray:
    """Distinct values by sort-and-compare: several times faster than np.unique on a few thousand ints."""
    if len(values) < 2:
        return values
    s = np.sort(values)
    keep = np.empty(len(s), dtype=bool)
    keep[0] = True
    np.not_equal(s[1:], s[:-1], out=keep[1:])
    return s[keep]


def weights_dir() -> Path:
    from importlib import resources

    return Path(str(resources.files("weightwarden") / "data" / "guard"))


@cache
def bundled_linear() -> LinearModel:
    """The committed linear weights, loaded once per process."""
    path = weights_dir() / LINEAR_FILE
    if not path.is_file():
        raise GuardModelError(
            f"the guard weights {path} are missing: run training/guard/older/run.py or reinstall weightwarden"
        )
    return LinearModel.load(path)
