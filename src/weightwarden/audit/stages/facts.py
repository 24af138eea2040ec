"""Basic facts: what the model is, how big, how it is stored, what license it claims (from the inspection)."""

from __future__ import annotations

import json
from typing import Any

from weightwarden.audit.context import AuditContext
from weightwarden.audit.result import StageResult, Status
from weightwarden.errors import WardenError


def _gguf_facts(ctx: AuditContext) -> dict[str, Any]:
    """The GGUF header as the inspection read it: the file is not opened a second time."""
    ins = ctx.inspection()
    report = next((f for f in ins.files if f.format == "gguf"), None)
    if report is None or not report.details.get("valid"):
        problem = next((f.detail for f in ins.findings if f.kind == "structure"), "no readable GGUF header")
        raise WardenError(f"cannot read the model's facts: {problem}")
    d = report.details
    meta: dict[str, Any] = d["metadata"]
    tokens = meta.get("tokenizer.ggml.tokens")
    return {
        "gguf_version": d["gguf_version"],
        "architecture": d["architecture"],
        "model_name": d["model_name"],
        "parameters": d["parameters"],
        "tensors": d["tensor_count"],
        "quantization": d["quantization"],
        "context_length": d["context_length"],
        "layers": d["layers"],
        "license": meta.get("general.license"),
        "has_chat_template": "default" in d.get("templates", {}),
        "vocab_size": tokens.get("length") if isinstance(tokens, dict) else None,
    }


def model_facts(ctx: AuditContext) -> dict[str, Any]:
    """Facts read from the artifact's own headers, never by running it."""
    artifact = ctx.artifact
    facts: dict[str, Any] = {
        "name": artifact.name,
        "format": artifact.format,
        "sha256": artifact.sha256,
        "size_bytes": artifact.size_bytes,
        "path": str(artifact.path) if artifact.path else None,
    }
    if artifact.format == "gguf" and artifact.path:
        facts.update(_gguf_facts(ctx))
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


class Facts:
    name = "facts"
    title = "Basic facts"
    description = "Format, architecture, parameters, quantization, context and license, read from the file's header."

    def run(self, ctx: AuditContext) -> StageResult:
        facts = model_facts(ctx)
        facts["load_seconds"] = round(ctx.runtime.info.load_seconds, 3)
        facts["runtime"] = ctx.runtime.info.name
        params = facts.get("parameters")
        summary = f"{facts['format']} · {facts.get('architecture') or '?'}"
        if params:
            summary += f" · {params / 1e6:.0f}M parameters"
        if facts.get("quantization"):
            summary += " · " + "/".join(list(facts["quantization"])[:2])
        summary += f" · license: {facts.get('license') or 'not stated in the file'}"
        status: Status = "ok" if facts.get("license") or ctx.artifact.format == "remote" else "warn"
        rows = [{"fact": k, "value": v} for k, v in facts.items() if v is not None]
        return StageResult(self.name, self.title, status, summary, rows, facts)
