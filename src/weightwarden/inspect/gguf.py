"""A GGUF file's facts (every metadata key, tensor table, quantization, parameters, context, chat templates),
through runtimes.gguf_file.read_gguf, with its structural errors turned into findings."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from weightwarden.errors import CorruptModel
from weightwarden.inspect.base import FileReport, Finding, Severity
from weightwarden.runtimes.gguf_file import read_gguf

TEMPLATE_KEY = "tokenizer.chat_template"


def _file_type(value: Any) -> str | None:
    from gguf.constants import LlamaFileType

    try:
        return LlamaFileType(int(value)).name.removeprefix("MOSTLY_")
    except (TypeError, ValueError):
        return None


def templates(metadata: dict[str, Any]) -> dict[str, str]:
    """The chat templates a GGUF carries: the default one and named ones (tokenizer.chat_template.NAME)."""
    out = {}
    for key, value in metadata.items():
        if (key == TEMPLATE_KEY or key.startswith(TEMPLATE_KEY + ".")) and isinstance(value, str):
            out[key.removeprefix(TEMPLATE_KEY).lstrip(".") or "default"] = value
    return out


def inspect_gguf(path: Path, rel: str) -> tuple[FileReport, list[Finding]]:
    """Read the header and tensor table; a corrupt file gives a high-severity structure finding, not an exception."""
    size = path.stat().st_size
    try:
        g = read_gguf(path)
    except CorruptModel as exc:
        return FileReport(rel, "gguf", size, details={"valid": False}), [
            Finding(Severity.HIGH, "structure", f"{exc} (llama.cpp may crash or misread such a file)", rel)
        ]
    meta = g.metadata
    arch = meta.get("general.architecture")
    findings: list[Finding] = []
    alignment = int(meta.get("general.alignment", 32) or 32)
    misaligned = [t.name for t in g.tensors if (t.offset - g.data_offset) % alignment]
    if misaligned:
        findings.append(
            Finding(
                Severity.LOW,
                "structure",
                f"{len(misaligned)} tensors are not {alignment}-byte aligned (e.g. {misaligned[0]})",
                rel,
            )
        )
    end = max((t.offset + t.n_bytes for t in g.tensors), default=g.data_offset)
    if size - end > alignment:
        findings.append(
            Finding(Severity.LOW, "structure", f"{size - end:,} bytes after the last tensor belong to no tensor", rel)
        )
    shown = {k: v for k, v in meta.items() if not (k == TEMPLATE_KEY or k.startswith(TEMPLATE_KEY + "."))}
    details: dict[str, Any] = {
        "valid": True,
        "gguf_version": g.version,
        "architecture": arch,
        "model_name": meta.get("general.name"),
        "parameters": g.n_parameters,
        "tensor_count": len(g.tensors),
        "quantization": g.quantization,
        "file_type": _file_type(meta.get("general.file_type")),
        "context_length": meta.get(f"{arch}.context_length"),
        "layers": meta.get(f"{arch}.block_count"),
        "data_offset": g.data_offset,
        "metadata": shown,
        "templates": templates(meta),
        "tensors": [{"name": t.name, "dtype": t.type_name, "shape": list(t.shape)} for t in g.tensors],
    }
    return FileReport(rel, "gguf", size, details=details), findings
