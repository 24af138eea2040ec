"""The simulated traffic both drift benches use (bench/monitor.py's power loop and bench/drift_peer.py).

Prompts are drawn from data/monitor/traffic.yaml: the usual mix of five support and writing topics, and travel as
the new topic. They are embedded once with the bundled all-MiniLM-L6-v2 and int8-quantized as the sketches store
them, so every drift test sees the arrays `warden monitor drift` would read from the ledger.
"""

from __future__ import annotations

import random
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from weightwarden.monitor.simulate import Traffic
from weightwarden.monitor.sketch import dequantize, quantize

BASE = ("account", "billing", "shipping", "coding", "writing")
NEW = "travel"


@dataclass
class Pool:
    """Embedded prompts to draw windows from: the usual mix (base) and the new topic (new), with prompt lengths."""

    base: np.ndarray
    new: np.ndarray
    base_lengths: np.ndarray
    new_lengths: np.ndarray
    base_texts: list[str]
    new_texts: list[str]
    embed_s: float


@dataclass
class Window:
    """One current window: `kind` is "null" (the usual mix) or "shift" (part of it moved to the new topic)."""

    index: int
    kind: str
    embeddings: np.ndarray
    lengths: np.ndarray


def embed_pool(n_base: int, n_new: int, seed: int, embedder: Any = None) -> Pool:
    """Draw n_base prompts of the usual mix and n_new of the new topic, and embed them as the sketches store them.

    embedder: a SentenceEmbedder to reuse (tests share one); by default the bundled one is loaded and closed here.
    """
    import torch

    from weightwarden.runtimes.embedder import SentenceEmbedder

    torch.set_num_threads(1)
    rng = random.Random(seed)
    traffic = Traffic.bundled()
    base = [p for _, p in traffic.prompts(dict.fromkeys(BASE, 1.0), n_base, rng)]
    new = [traffic.prompt(NEW, rng) for _ in range(n_new)]
    own = embedder is None
    model = SentenceEmbedder() if own else embedder
    t0 = time.perf_counter()
    vectors = np.asarray(model.embed(base + new))
    embed_s = time.perf_counter() - t0
    if own:
        model.close()
    print(f"embedded {len(vectors)} prompts in {embed_s:.0f} s", file=sys.stderr)
    stored = np.vstack([dequantize(*quantize(v)) for v in vectors]).astype(np.float64)
    lengths = np.array([len(p) for p in base + new], dtype=float)
    return Pool(stored[:n_base], stored[n_base:], lengths[:n_base], lengths[n_base:], base, new, embed_s)


def windows(
    pool: Pool, rest: np.ndarray, rng: np.random.Generator, count: int, size: int, shift: float
) -> Iterator[Window]:
    """`count` pairs of windows of `size` requests drawn from the base rows `rest` (those not in the reference):
    first an unshifted one, then one with round(shift * size) requests moved to the new topic."""
    for w in range(count):
        for kind in ("null", "shift"):
            moved = round(shift * size) if kind == "shift" else 0
            b = rng.choice(rest, size=size - moved, replace=False)
            n = rng.choice(len(pool.new), size=moved, replace=False)
            x = np.vstack([pool.base[b], pool.new[n]]) if moved else pool.base[b]
            lengths = np.concatenate([pool.base_lengths[b], pool.new_lengths[n]]) if moved else pool.base_lengths[b]
            yield Window(w, kind, x, lengths)
