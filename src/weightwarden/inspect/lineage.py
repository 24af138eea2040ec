"""Where a model says it came from: base models, training datasets, who quantized it, and a source URL, from GGUF
`general.*` keys, the model card and package metadata. What is not declared is reported as a gap."""

from __future__ import annotations

from typing import Any

from weightwarden.inspect.base import Finding, Severity


def _as_list(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, list | tuple):
        return [str(v) for v in value if v not in (None, "")]
    return [str(value)] if str(value).strip() else []


def _numbered(meta: dict[str, Any], prefix: str) -> list[str]:
    """GGUF lists such as general.base_model.0.name ... general.base_model.count, rendered as org/name@version."""
    count = meta.get(f"{prefix}.count")
    out = []
    for i in range(int(count) if isinstance(count, int) and count < 1000 else 0):
        name = meta.get(f"{prefix}.{i}.name")
        org = meta.get(f"{prefix}.{i}.organization")
        repo = meta.get(f"{prefix}.{i}.repo_url")
        label = "/".join(str(p) for p in (org, name) if p) or str(repo or f"#{i}")
        if meta.get(f"{prefix}.{i}.version"):
            label += f"@{meta[f'{prefix}.{i}.version']}"
        out.append(label)
    return out


def lineage(
    gguf: dict[str, Any] | None,
    card: dict[str, Any] | None,
    config: dict[str, Any] | None,
    package: dict[str, Any] | None,
    quantized: bool,
) -> tuple[dict[str, Any], list[Finding]]:
    """The lineage section and one low-severity `lineage-gap` finding per missing declaration.

    quantized: the weights are stored quantized, so who quantized them (and from what) should be declared.
    """
    gguf, card, config = gguf or {}, card or {}, config or {}
    base = _numbered(gguf, "general.base_model") + _as_list(card.get("base_model"))
    datasets = _numbered(gguf, "general.dataset") + _numbered(gguf, "general.datasets") + _as_list(card.get("datasets"))
    quantized_by = gguf.get("general.quantized_by") or card.get("quantized_by")
    source = (
        gguf.get("general.source.url")
        or gguf.get("general.source.repo_url")
        or gguf.get("general.source.huggingface.repository")
        or gguf.get("general.repo_url")
        or gguf.get("general.url")
        or card.get("source")
        or (package or {}).get("home_page")
    )
    section: dict[str, Any] = {
        "base_models": list(dict.fromkeys(base)),
        "base_model_relation": card.get("base_model_relation"),
        "datasets": list(dict.fromkeys(datasets)),
        "quantized_by": quantized_by,
        "source_url": source,
        "author": gguf.get("general.author") or card.get("model_creator") or (package or {}).get("author"),
        "organization": gguf.get("general.organization"),
        "finetune": gguf.get("general.finetune"),
        "hints": {k: v for k, v in {"config._name_or_path": config.get("_name_or_path")}.items() if v},
    }
    # `warden tune` writes the exact hashes of the base and the training data next to the standard names
    for key in ("base_sha256", "data_sha256", "tune_run"):
        value = gguf.get(f"weightwarden.{key}")
        if isinstance(value, str) and value:
            section[key] = value
    gaps = []
    if not section["base_models"]:
        gaps.append("base model: not declared (a fine-tune or quantization should name what it was made from)")
    if not section["datasets"]:
        gaps.append("training data: no datasets declared")
    if quantized and not quantized_by:
        gaps.append("quantization: the weights are quantized but nobody is named as having quantized them")
    if not source:
        gaps.append("source: no URL says where the weights were published")
    section["gaps"] = gaps
    findings = [Finding(Severity.LOW, "lineage-gap", g) for g in gaps]
    return section, findings
