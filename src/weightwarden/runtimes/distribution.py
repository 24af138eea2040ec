"""Per-position facts about the model's whole next-token distribution, from raw logits: what Min-K%++ needs.

Works with any runtime that exposes `logits(tokens)` (llama.cpp's scoring copy, transformers); a remote server does
not give the full distribution, so it cannot be used here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np

from weightwarden.errors import CapabilityError

_ROWS = 64  # logit rows converted to float64 at a time: 64 x 49k x 8 bytes = 25 MB


@runtime_checkable
class LogitsRuntime(Protocol):
    def logits(self, tokens: Sequence[int]) -> np.ndarray: ...

    def tokenize(self, text: str, add_special: bool = False) -> list[int]: ...

    def context_ids(self, context: str) -> list[int]: ...


@dataclass(frozen=True)
class TokenStats:
    """For each scored token t: logprob = log p(t | before); mean and std of log p(z | before) for z ~ p(. | before).

    Min-K%++ standardises each token's log-probability by the mean and std of its own position's distribution.
    """

    tokens: tuple[int, ...]
    logprob: np.ndarray
    mean: np.ndarray
    std: np.ndarray


def stats_from_logits(logits: np.ndarray, tokens: Sequence[int], n_context: int) -> TokenStats:
    """Stats of tokens[n_context:], given logits[i] = the logits after reading tokens[: i + 1]."""
    cont = [int(t) for t in tokens[n_context:]]
    rows = logits[n_context - 1 : len(tokens) - 1]
    if rows.shape[0] != len(cont):
        raise ValueError(f"need {len(cont)} logit rows, got {rows.shape[0]}")
    logprob, mean, std = (np.empty(len(cont)) for _ in range(3))
    for start in range(0, len(cont), _ROWS):
        block = np.asarray(rows[start : start + _ROWS], dtype=np.float64)
        peak = block.max(axis=1, keepdims=True)
        logz = peak + np.log(np.exp(block - peak).sum(axis=1, keepdims=True))
        lp = block - logz
        p = np.exp(lp)
        mu = (p * lp).sum(axis=1)
        var = np.maximum((p * lp * lp).sum(axis=1) - mu * mu, 0.0)
        end = start + block.shape[0]
        logprob[start:end] = lp[np.arange(block.shape[0]), cont[start:end]]
        mean[start:end] = mu
        std[start:end] = np.sqrt(var)
    return TokenStats(tuple(cont), logprob, mean, std)


def token_stats(runtime: object, text: str, max_tokens: int = 512) -> TokenStats:
    """Stats of the first max_tokens tokens of text, read after the model's start-of-text context."""
    if not isinstance(runtime, LogitsRuntime):
        raise CapabilityError(
            "this runtime does not expose its logits (a remote server never does): membership scores need a local "
            "model, run with llama.cpp or transformers"
        )
    ids = runtime.tokenize(text)[:max_tokens]
    if not ids:
        raise CapabilityError("the text has no tokens to score: give a non-empty text")
    context = runtime.context_ids("")
    tokens = [*context, *ids]
    return stats_from_logits(runtime.logits(tokens), tokens, len(context))
