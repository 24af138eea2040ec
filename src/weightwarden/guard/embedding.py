"""The optional deeper layer: logistic regression heads on all-MiniLM-L6-v2 sentence embeddings of text windows.

Slower than the hashed n-gram layer (a transformer forward pass per window), so policies turn it on with
`deep: true`; bench/guard_quality.py reports what it adds and bench/guard.py what it costs.
"""

from __future__ import annotations

import hashlib
import math
import threading
import zipfile
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from weightwarden.guard.base import GuardModelError
from weightwarden.guard.classifier import HeadScore, sigmoid, weights_dir

EMBED_FILE = "embedding.npz"
EMBED_FORMAT_VERSION = 1
MAX_WINDOWS = 64
CACHE_SIZE = 4096  # a deep scan of a huge text looks at this many evenly spread windows; the fast layer sees all


@dataclass
class EmbeddingModel:
    heads: tuple[str, ...]
    weights: np.ndarray
    bias: np.ndarray
    window: int
    stride: int
    sha256: str
    embedder: Any = field(default=None, repr=False)
    # recent texts' scores: a transformer pass is worth remembering (repeated prompts, several policies on one text)
    _recent: dict[str, dict[str, HeadScore]] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)  # the gateway shares one model

    @classmethod
    def load(cls, path: Path, embedder: Any = None) -> EmbeddingModel:
        try:
            blob = path.read_bytes()
            with np.load(path, allow_pickle=False) as z:
                if int(z["version"]) != EMBED_FORMAT_VERSION:
                    raise GuardModelError(
                        f"{path} was written by another version of weightwarden: retrain or reinstall"
                    )
                return cls(
                    heads=tuple(str(h) for h in z["heads"]),
                    weights=z["weights"].astype(np.float32),
                    bias=z["bias"].astype(np.float32),
                    window=int(z["window"]),
                    stride=int(z["stride"]),
                    sha256=hashlib.sha256(blob).hexdigest(),
                    embedder=embedder,
                )
        except (OSError, KeyError, ValueError, zipfile.BadZipFile, EOFError) as exc:  # BadZipFile: truncated
            raise GuardModelError(
                f"cannot load the embedding guard weights {path}: {exc}; reinstall weightwarden"
            ) from None

    def _embed(self, texts: list[str]) -> np.ndarray:
        if self.embedder is None:
            from weightwarden.runtimes import load_embedder

            with self._lock:
                if self.embedder is None:
                    self.embedder = load_embedder()
        return np.asarray(self.embedder.embed(texts), dtype=np.float32)

    def score(self, text: str) -> dict[str, HeadScore]:
        key = hashlib.sha256(text.encode("utf-8", "replace")).hexdigest()
        with self._lock:
            hit = self._recent.get(key)
        if hit is None:
            hit = self._score(text)
            with self._lock:
                if len(self._recent) >= CACHE_SIZE:
                    self._recent.pop(next(iter(self._recent)))
                self._recent[key] = hit
        return hit

    def _score(self, text: str) -> dict[str, HeadScore]:
        if not text.isascii():  # a lone surrogate, which the tokenizer refuses, is read as "?" (same length)
            text = text.encode("utf-8", "replace").decode("utf-8")
        n = len(text)
        if n <= self.window:
            spans = [(0, n)]
        else:
            starts = sorted({min(s, n - self.window) for s in range(0, n - self.window + self.stride, self.stride)})
            if len(starts) > MAX_WINDOWS:
                pick = np.linspace(0, len(starts) - 1, MAX_WINDOWS).round().astype(int)
                starts = [starts[i] for i in pick]
            spans = [(s, s + self.window) for s in starts]
        x = self._embed([text[s:e] if text[s:e].strip() else " " for s, e in spans])
        logits = x @ self.weights + self.bias
        top = logits.argmax(axis=0)
        out = {}
        for h, head in enumerate(self.heads):
            lg = float(logits[top[h], h])
            s, e = spans[int(top[h])]
            out[head] = HeadScore(sigmoid(lg), lg if math.isfinite(lg) else 0.0, s, e)
        return out


@cache
def bundled_embedding() -> EmbeddingModel:
    path = weights_dir() / EMBED_FILE
    if not path.is_file():
        raise GuardModelError(
            f"the embedding guard weights {path} are missing: "
            "run `python -m training.guard.older.run --embedding`, or set deep: false"
        )
    return EmbeddingModel.load(path)
