"""Exact log-likelihoods from raw logits, shared by every local runtime."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from weightwarden.runtimes.base import LogLikelihood


def score_continuation(logits: np.ndarray, tokens: Sequence[int], n_context: int) -> LogLikelihood:
    """Score tokens[n_context:] given logits[i] = the model's logits after reading tokens[: i + 1].

    logits has one row per input position (at least len(tokens) - 1 rows); the sum is done in float64.
    """
    cont = list(tokens[n_context:])
    rows = np.asarray(logits[n_context - 1 : len(tokens) - 1], dtype=np.float64)
    if rows.shape[0] != len(cont):
        raise ValueError(f"need {len(cont)} logit rows, got {rows.shape[0]}")
    peak = rows.max(axis=1, keepdims=True)
    logz = peak[:, 0] + np.log(np.exp(rows - peak).sum(axis=1))
    picked = rows[np.arange(len(cont)), cont]
    logprobs = picked - logz
    greedy = bool(np.all(rows.argmax(axis=1) == np.asarray(cont)))
    return LogLikelihood(
        tokens=tuple(int(t) for t in cont), token_logprobs=tuple(float(x) for x in logprobs), is_greedy=greedy
    )
