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
    """Best of `repeats` for each figure. Each prompt starts differently so no prompt cache can help."""
    filler = (_FILLER * (prompt_words // len(_FILLER.split()) + 1)).split()[:prompt_words]
    best_prompt = best_gen = float("inf")
    n_prompt = n_gen = 0
    first = float("inf")
    for i in range(repeats):
        long_prompt = f"Log {i + 1}. " + " ".join(filler)
        t0 = time.perf_counter()
        g = runtime.complete(long_prompt, GenerationParams(max_tokens=1))
        best_prompt = min(best_prompt, time.perf_counter() - t0)
        n_prompt = g.prompt_tokens

        short = f"Entry {i + 7}: count from one to one hundred in words, separated by commas:"
        t0 = time.perf_counter()
        runtime.complete(short, GenerationParams(max_tokens=1))
        t_one = time.perf_counter() - t0
        first = min(first, t_one)
        t0 = time.perf_counter()
        g = runtime.complete(f"Entry {i + 11}" + short[len(f"Entry {i + 7}") :], GenerationParams(max_tokens=gen_tokens))
        t_all = time.perf_counter() - t0
        if g.completion_tokens > 1 and t_all > t_one:
            best_gen = min(best_gen, (t_all - t_one) / (g.completion_tokens - 1))
            n_gen = g.completion_tokens
    return Speed(
        prompt_tokens=n_prompt,
        prompt_tokens_per_s=n_prompt / best_prompt if best_prompt > 0 else 0.0,
        generated_tokens=n_gen,
        generation_tokens_per_s=1.0 / best_gen if best_gen not in (0.0, float("inf")) else 0.0,
        first_token_s=first,
        peak_rss_mb=peak_rss_mb(),
    )
