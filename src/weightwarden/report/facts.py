"""Basic facts about a resolved model: what it is, how big, how it is stored, what license it claims."""

from __future__ import annotations

import json
from typing import Any

from weightwarden.runtimes.artifact import Artifact
from weightwarden.runtimes.gguf_file import read_gguf


def model_facts(artifact: Artifact) -> dict[str, Any]:
    """Facts read from the artifact's own headers, never by running it."""
    facts: dict[str, Any] = {
        "name": artifact.name,
        "format": artifact.format,
        "sha256": artifact.sha256,
        "size_bytes": artifact.size_bytes,
        "path": str(artifact.path) if artifact.path else None,
    }
    if artifact.format == "gguf" and artifact.path:
        g = read_gguf(artifact.path)
        meta = g.metadata
        arch = meta.get("general.architecture")
        facts.update(
            gguf_version=g.version,
            architecture=arch,
            model_name=meta.get("general.name"),
            parameters=g.n_parameters,
            tensors=len(g.tensors),
            quantization=g.quantization,
            context_length=meta.get(f"{arch}.context_length"),
            layers=meta.get(f"{arch}.block_count"),
            license=meta.get("general.license"),
            has_chat_template="tokenizer.chat_template" in meta,
            vocab_size=(meta.get("tokenizer.ggml.tokens") or {}).get("length")
            if isinstance(meta.get("tokenizer.ggml.tokens"), dict)
            else None,
        )
    elif artifact.format == "hf" and artifact.path:
        try:
            config = json.loads((artifact.path / "config.json").read_text())
        except (OSError, ValueError):
            config = {}
        facts.update(
            architecture=config.get("model_type"),
            architectures=config.get("architectures"),
            context_length=config.get("max_position_embeddings"),
            layers=config.get("num_hidden_layers"),
            vocab_size=config.get("vocab_size"),
            torch_dtype=config.get("torch_dtype"),
            files=len(artifact.files),
        )
    else:
        facts.update(base_url=artifact.base_url, remote_model=artifact.remote_model)
    return facts
