"""Embed texts with the bundled all-MiniLM-L6-v2 exactly as the guard does at run time, with a cache on disk."""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def wait_quiet() -> None:
    """A colleague's timing benchmarks hold /tmp/bench-quiet while they run: start heavy work only after it."""
    while Path("/tmp/bench-quiet").exists():
        time.sleep(20)


def key(text: str, int8: bool = False) -> str:
    """The cache key: the text's hash, marked for the int8 encoder (its vectors differ from float32's)."""
    return ("q8:" if int8 else "") + hashlib.sha256(text.encode("utf-8", "replace")).hexdigest()[:24]


def cached_vectors(
    texts: list[str],
    cache: Path,
    key_of: Callable[[str], str],
    embed: Callable[[], Callable[[list[str]], np.ndarray]],
    batch: int,
    what: str,
    progress: Callable[[str], None],
) -> np.ndarray:
    """One vector per text from the cache (an npz of keys and vectors), embedding the missing ones in batches and
    saving after each, so an interrupted run keeps what it did; `embed` loads the encoder only if something is
    missing."""
    store: dict[str, np.ndarray] = {}
    if cache.is_file():
        with np.load(cache, allow_pickle=False) as z:
            store = dict(zip((str(k) for k in z["keys"]), z["vectors"], strict=True))
    todo = sorted({key_of(t): t for t in texts if key_of(t) not in store}.items())
    if todo:
        run = embed()
        for i in range(0, len(todo), batch):
            wait_quiet()
            part = todo[i : i + batch]
            for (k, _), v in zip(part, run([t for _, t in part]), strict=True):
                store[k] = v
            progress(f"{what} {min(i + batch, len(todo))}/{len(todo)}")
            keys = np.array(list(store))
            np.savez(cache, keys=keys, vectors=np.stack([store[k] for k in keys]))
    return np.stack([store[key_of(t)] for t in texts]).astype(np.float32)


def embed_all(
    texts: list[str], cache: Path, progress: Callable[[str], None] = print, *, int8: bool = False
) -> np.ndarray:
    """One unit vector per text (the text's first window, as the run-time encoder sees it), cached by text hash;
    int8: with the int8 encoder (Encoder(int8=True)), as weights built with encoder_int8 are scored."""
    import torch

    from weightwarden.guard.encoder import Encoder

    torch.set_num_threads(1)
    return cached_vectors(
        texts, cache, lambda t: key(t, int8), lambda: Encoder.load(int8=int8).embed_windows, 256, "embedded", progress
    )


def embed_decoder(texts: list[str], cache: Path, layers: int, progress: Callable[[str], None] = print) -> np.ndarray:
    """SmolLM2's layer-`layers` mean vector per text (weightwarden.guard.decoder.Decoder, int8, one text at a time,
    as the run time embeds), not standardised; cached by text hash under its own key prefix."""
    import torch

    from weightwarden.guard.decoder import Decoder

    torch.set_num_threads(2)
    return cached_vectors(
        texts, cache, lambda t: f"d{layers}:" + key(t), lambda: Decoder(layers).embed, 500, "decoder embedded", progress
    )
