"""The parts of a Hugging Face model folder that are not weights: config.json, tokenizer files and their chat
templates, the model card's YAML front matter, LICENSE texts, and code that `trust_remote_code` would run."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from weightwarden.inspect.base import Finding, Severity

LICENSE_NAMES = ("LICENSE", "LICENCE", "COPYING", "NOTICE")
CONFIG_KEYS = (
    "model_type", "architectures", "max_position_embeddings", "n_positions", "max_seq_len", "seq_length",
    "hidden_size", "num_hidden_layers", "num_attention_heads", "num_key_value_heads", "vocab_size", "torch_dtype",
    "quantization_config", "auto_map", "_name_or_path", "rope_scaling", "sliding_window", "tie_word_embeddings",
)  # fmt: skip
CONTEXT_KEYS = ("max_position_embeddings", "n_positions", "max_seq_len", "seq_length")


def read_json(path: Path) -> tuple[dict[str, Any] | None, Finding | None]:
    """A JSON object from a small config file, or a finding that says why it could not be read."""
    try:
        data = json.loads(path.read_text(errors="replace"))
    except (OSError, ValueError) as exc:
        return None, Finding(Severity.LOW, "structure", f"{path.name} is not valid JSON ({exc})", path.name)
    if not isinstance(data, dict):
        return None, Finding(Severity.LOW, "structure", f"{path.name} is JSON but not an object", path.name)
    return data, None


def front_matter(text: str) -> tuple[dict[str, Any], str | None]:
    """The YAML block between the leading `---` lines of a model card (safe_load: plain data only)."""
    if not text.startswith("---"):
        return {}, None
    end = text.find("\n---", 3)
    if end < 0:
        return {}, "the model card opens a YAML block with --- but never closes it"
    try:
        data = yaml.safe_load(text[3:end])
    except yaml.YAMLError as exc:
        return {}, f"the model card's YAML front matter does not parse ({str(exc).splitlines()[0]})"
    return (data if isinstance(data, dict) else {}), None


def config_facts(config: dict[str, Any]) -> dict[str, Any]:
    facts = {k: config[k] for k in CONFIG_KEYS if k in config}
    text = config.get("text_config")
    if isinstance(text, dict):  # multimodal configs keep the language model's numbers one level down
        facts.update({k: v for k, v in text.items() if k in CONFIG_KEYS and k not in facts})
    return facts


def context_length(facts: dict[str, Any]) -> int | None:
    for key in CONTEXT_KEYS:
        if isinstance(facts.get(key), int):
            return int(facts[key])
    return None


def code_findings(config: dict[str, Any] | None, python_files: list[str]) -> list[Finding]:
    """Custom modelling code: transformers runs it when a user passes trust_remote_code=True."""
    out = []
    auto_map = (config or {}).get("auto_map")
    if auto_map:
        targets = sorted({str(v) for v in (auto_map.values() if isinstance(auto_map, dict) else [auto_map])})
        out.append(
            Finding(
                Severity.HIGH,
                "custom-code",
                f"config.json auto_map points at custom code ({', '.join(targets[:3])}): loading with "
                "trust_remote_code=True runs it; read it first, or load without it",
                "config.json",
            )
        )
    for rel in python_files:
        out.append(
            Finding(
                Severity.MEDIUM,
                "custom-code",
                "Python code ships with the model; read it before anything imports it",
                rel,
            )
        )
    return out


def tokenizer_templates(folder: Path) -> dict[str, tuple[str, str]]:
    """Chat templates from tokenizer_config.json, chat_template.json and chat_template.jinja: name -> (file, text)."""
    out: dict[str, tuple[str, str]] = {}
    cfg = folder / "tokenizer_config.json"
    if cfg.is_file():
        data, _ = read_json(cfg)
        value = (data or {}).get("chat_template")
        if isinstance(value, str):
            out["default"] = ("tokenizer_config.json", value)
        elif isinstance(value, list):
            for item in value:
                if isinstance(item, dict) and isinstance(item.get("template"), str):
                    out[str(item.get("name") or "default")] = ("tokenizer_config.json", item["template"])
    jinja = folder / "chat_template.jinja"
    if jinja.is_file():
        out["default"] = ("chat_template.jinja", jinja.read_text(errors="replace"))
    js = folder / "chat_template.json"
    if js.is_file():
        data, _ = read_json(js)
        if isinstance((data or {}).get("chat_template"), str):
            out.setdefault("default", ("chat_template.json", str((data or {})["chat_template"])))
    return out


def is_license_file(rel: str) -> bool:
    name = Path(rel).name.upper()
    return name.startswith(LICENSE_NAMES) and Path(rel).suffix.lower() in ("", ".txt", ".md", ".rst")


def card_title(readme: Path) -> str | None:
    """The first level-one heading of a model card, which is usually the model's name."""
    try:
        text = readme.read_text(errors="replace")[:100_000]
    except OSError:
        return None
    if text.startswith("---"):  # skip the YAML block, whose comments also start with "# "
        end = text.find("\n---", 3)
        text = text[end + 4 :] if end >= 0 else ""
    for line in text.splitlines():
        if line.startswith("# ") and len(line) < 120:
            return line[2:].strip() or None
    return None
