"""Loading a base model for training: a GGUF file (dequantized to float32) or a Hugging Face folder."""

from __future__ import annotations

import contextlib
import io
import os
from pathlib import Path
from typing import Any

from weightwarden.errors import CorruptModel


def pick_device(requested: str = "auto") -> str:
    """cuda when present (or asked for), else cpu."""
    import torch

    if requested == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return requested


def load_base(path: Path) -> tuple[Any, Any]:
    """The model (float32, on the CPU) and tokenizer of a GGUF file or a Hugging Face folder, offline."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = Path(path)
    kwargs: dict[str, Any] = {}
    if path.is_file():
        folder, kwargs["gguf_file"] = str(path.parent), path.name
    else:
        folder = str(path)
    try:
        # The GGUF dequantizer draws its own tqdm bar on stderr; ours are the ones the user should see.
        with contextlib.redirect_stderr(io.StringIO()):
            tokenizer = AutoTokenizer.from_pretrained(folder, **kwargs)
            model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32, **kwargs)
    except (OSError, ValueError, RuntimeError, KeyError) as exc:
        raise CorruptModel(f"transformers could not load {path} for training: {exc}") from None
    return model, tokenizer


def count_parameters(model: Any) -> tuple[int, int]:
    """(trainable, total) parameter counts."""
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    total = sum(p.numel() for p in model.parameters())
    return int(trainable), int(total)
