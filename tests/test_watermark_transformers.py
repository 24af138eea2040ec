"""The watermark and the distribution statistics through the transformers runtime on the same GGUF file (slow: it
loads transformers, shared with tests/test_parity.py in one session)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from weightwarden.runtimes import GenerationParams, Message
from weightwarden.runtimes.distribution import token_stats
from weightwarden.runtimes.llamacpp import LlamaCppRuntime
from weightwarden.watermark import WatermarkConfig, WatermarkProcessor, detect_text

pytestmark = pytest.mark.slow

# a strong bias, so that a short answer shows whether the processor ran at all
STRONG = WatermarkConfig(b"transformers-test-key-0123456789", delta=4.0)


def test_transformers_generation_carries_the_watermark(hf_gguf, llama: LlamaCppRuntime) -> None:  # type: ignore[no-untyped-def]
    msgs = [Message("user", "Describe a walk through a forest in autumn.")]
    # 80 tokens: over 12 seeds a 40-token answer's green fraction ran from 0.68 to 0.90, too close to the 0.6 below
    # for a text that changes with the CPU's kernels
    sampled = GenerationParams(max_tokens=80, temperature=0.7, seed=3)
    marked = hf_gguf.chat(msgs, replace(sampled, logits_processor=WatermarkProcessor(STRONG))).text
    plain = hf_gguf.chat(msgs, sampled).text
    hit = detect_text(marked, llama, STRONG, fpr=1e-3)  # written by transformers, read with llama.cpp's tokenizer
    assert hit.verdict == "watermarked" and hit.green_fraction > 0.6, hit
    assert detect_text(plain, llama, STRONG, fpr=1e-3).verdict != "watermarked"


def test_distribution_stats_agree_across_runtimes(hf_gguf, llama: LlamaCppRuntime) -> None:  # type: ignore[no-untyped-def]
    text = "Rain fell on the harbour all night, and by morning the boats were full of water."
    a, b = token_stats(llama, text), token_stats(hf_gguf, text)
    assert a.tokens == b.tokens
    assert float(np.median(np.abs(a.logprob - b.logprob))) < 0.1
    assert float(np.median(np.abs(a.mean - b.mean))) < 0.1 and float(np.median(np.abs(a.std - b.std))) < 0.1
