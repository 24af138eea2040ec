"""The bundled all-MiniLM-L6-v2 sentence embedder as a backend, loaded on first use (torch takes seconds to
import)."""

from __future__ import annotations

from collections.abc import Sequence

from weightwarden.gateway.backends.base import Capabilities, Refusing, queue_for
from weightwarden.gateway.config import ModelKind, ModelSpec
from weightwarden.runtimes import Embedder, HashCache, resolve
from weightwarden.runtimes.embedder import SentenceEmbedder


class EmbedderModel(Refusing):
    """Embeddings only; the model's hash is known once it has loaded."""

    kind: ModelKind = "embedder"
    n_ctx = 0
    capabilities = Capabilities(embeddings=True)

    def __init__(self, spec: ModelSpec, hash_cache: HashCache) -> None:
        self.name = spec.name
        self.queue = queue_for(spec, self.capabilities)
        self._embedder: Embedder | None = spec.embedder
        self._owned = spec.embedder is None
        self._hash_cache = hash_cache
        self.model_hash: str | None = spec.model_hash

    def _load(self) -> Embedder:
        if self._embedder is None:
            from weightwarden.runtimes import load_embedder

            self._embedder = load_embedder()
        if self.model_hash is None and isinstance(self._embedder, SentenceEmbedder):
            self.model_hash = resolve(str(self._embedder.path), self._hash_cache).sha256
        return self._embedder

    def estimate_tokens(self, texts: Sequence[str]) -> int:
        return sum(len(t.encode("utf-8")) + 2 for t in texts)

    def embed(self, texts: Sequence[str]) -> tuple[list[list[float]], int]:
        """Unit vectors for texts, and the tokens the model read (after its own truncation)."""
        embedder = self._load()
        read = embedder.count_tokens if isinstance(embedder, SentenceEmbedder) else self.estimate_tokens
        return embedder.embed(texts), read(texts)

    def close(self) -> None:
        self.queue.close()
        if self._owned and self._embedder is not None:
            self._embedder.close()
