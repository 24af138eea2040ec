"""How a model runs: resolve a reference once, then load it with llama.cpp, transformers or a remote server."""

from __future__ import annotations

from typing import Literal

from weightwarden.errors import UnsupportedModel
from weightwarden.runtimes.artifact import Artifact, HashCache, resolve
from weightwarden.runtimes.base import (
    Chunk,
    DescribesTokenizer,
    Embedder,
    Generation,
    GenerationParams,
    LogLikelihood,
    Message,
    PromptLogprobs,
    RendersChat,
    Runtime,
    RuntimeInfo,
    ScoresPrompts,
    TokenizerFacts,
)

Backend = Literal["auto", "llama.cpp", "transformers"]

__all__ = [
    "Artifact",
    "Backend",
    "Chunk",
    "DescribesTokenizer",
    "Embedder",
    "Generation",
    "GenerationParams",
    "HashCache",
    "LogLikelihood",
    "Message",
    "PromptLogprobs",
    "RendersChat",
    "Runtime",
    "RuntimeInfo",
    "ScoresPrompts",
    "TokenizerFacts",
    "load_embedder",
    "load_runtime",
    "resolve",
]


def load_runtime(
    artifact: Artifact,
    backend: Backend = "auto",
    *,
    n_ctx: int = 2048,
    threads: int = 0,
    timeout: float = 60.0,
    api_key: str = "none",
) -> Runtime:
    """Load an artifact: GGUF with llama.cpp (or transformers), HF folders with transformers, remote over HTTP."""
    if artifact.format == "remote":
        from weightwarden.runtimes.remote import RemoteRuntime

        assert artifact.base_url and artifact.remote_model
        return RemoteRuntime(artifact.base_url, artifact.remote_model, timeout=timeout, api_key=api_key)
    assert artifact.path is not None
    if artifact.format == "gguf" and backend in ("auto", "llama.cpp"):
        from weightwarden.runtimes.llamacpp import LlamaCppRuntime

        return LlamaCppRuntime(artifact.path, n_ctx=n_ctx, threads=threads)
    if backend == "llama.cpp":
        raise UnsupportedModel(
            f"llama.cpp runs GGUF files; {artifact.ref} is a {artifact.format} model: use --backend transformers"
        )
    from weightwarden.runtimes.hf import TransformersRuntime

    return TransformersRuntime(artifact.path, threads=threads, max_context=n_ctx)


def load_embedder() -> Embedder:
    """The bundled all-MiniLM-L6-v2 sentence embedder."""
    from weightwarden.runtimes.embedder import SentenceEmbedder

    return SentenceEmbedder()
