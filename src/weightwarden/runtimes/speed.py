"""Measure a loaded runtime's speed: prompt tokens/s, generation tokens/s, time to first token, peak memory."""

from __future__ import annotations

import resource
import sys
import time
from dataclasses import asdict, dataclass
from typing import Any

from weightwarden.runtimes.base import GenerationParams, Runtime

_FILLER = (
    "A lighthouse keeper kept a log of every ship that passed the rocks, the weather at dawn and dusk, "
    "the colour of the sea, and the birds that rested on the rail. "
)


@dataclass(frozen=True)
class Speed:
    prompt_tokens: int
    prompt_tokens_per_s: float
    generated_tokens: int
    generation_tokens_per_s: float
    first_token_s: float
    peak_rss_mb: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def peak_rss_mb() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return usage / (1024 * 1024) if sys.platform == "darwin" else usage / 1024


def measure_speed(runtime: Runtime, *, prompt_words: int = 200, gen_tokens: int = 128, repeats: int = 2) -> Speed:
    """Best of `repeats` for each figure.

    Prompt speed: a ~250-token prompt with one token generated. Generation speed: a counting prompt (every model keeps
    counting, so it does not stop early), timed at 1 and at gen_tokens tokens; the difference is pure decoding.
    """
    filler = (_FILLER * (prompt_words // len(_FILLER.split()) + 1)).split()[:prompt_words]
    best_prompt = best_gen = first = float("inf")
    n_prompt = n_gen = 0
    for i in range(repeats):
        t0 = time.perf_counter()
        g = runtime.complete(f"Log {i + 1}. " + " ".join(filler), GenerationParams(max_tokens=1))
        best_prompt = min(best_prompt, time.perf_counter() - t0)
        n_prompt = g.prompt_tokens

        counting = f"{i + 1}, {i + 2}, {i + 3}, {i + 4}, {i + 5},"
        t0 = time.perf_counter()
        runtime.complete(counting, GenerationParams(max_tokens=1))
        t_one = time.perf_counter() - t0
        first = min(first, t_one)
        t0 = time.perf_counter()
        g = runtime.complete(counting, GenerationParams(max_tokens=gen_tokens))
        t_all = time.perf_counter() - t0
        if g.completion_tokens > 1 and t_all > t_one:
            best_gen = min(best_gen, (t_all - t_one) / (g.completion_tokens - 1))
            n_gen = g.completion_tokens
    return Speed(
        prompt_tokens=n_prompt,
        prompt_tokens_per_s=n_prompt / best_prompt if best_prompt > 0 else 0.0,
        generated_tokens=n_gen,
        generation_tokens_per_s=1.0 / best_gen if 0.0 < best_gen < float("inf") else 0.0,
        first_token_s=first,
        peak_rss_mb=peak_rss_mb(),
    )
