"""The performance suite: time to first token, prompt and generation speed, peak memory, and what a million
generated tokens cost on this machine (from the price settings: power draw and electricity, or an hourly rent)."""

from __future__ import annotations

from collections.abc import Callable

from weightwarden.config import Settings
from weightwarden.eval.base import Metric, TaskResult
from weightwarden.eval.stats import mean_metric
from weightwarden.runtimes import Runtime
from weightwarden.runtimes.speed import measure_speed, peak_rss_mb

TASK_ID = "performance.speed"


def performance(
    runtime: Runtime, settings: Settings, *, repeats: int = 5, progress: Callable[[int, int], None] | None = None
) -> TaskResult:
    """Measure `repeats` times (each a fresh prompt and a 128-token generation); each figure is the mean with a
    bootstrap 95% interval over the repeats, so a noisy machine shows up as a wide interval."""
    ttft, prompt, gen, cost = [], [], [], []
    per_second = settings.usd_per_second
    for i in range(repeats):
        s = measure_speed(runtime, repeats=1)
        ttft.append(s.first_token_s * 1000)
        prompt.append(s.prompt_tokens_per_s)
        gen.append(s.generation_tokens_per_s)
        if s.generation_tokens_per_s > 0:
            cost.append(per_second / s.generation_tokens_per_s * 1_000_000)
        if progress:
            progress(i + 1, repeats)
    rss = peak_rss_mb()
    metrics = {
        "ttft_ms": mean_metric(ttft),
        "prompt_tokens_per_s": mean_metric(prompt),
        "generation_tokens_per_s": mean_metric(gen),
        "peak_rss_mb": Metric(rss, rss, rss, 1, "measured"),
    }
    if cost:
        metrics["usd_per_million_tokens"] = mean_metric(cost)
    price = (
        {"usd_per_hour": settings.usd_per_hour}
        if settings.usd_per_hour > 0
        else {"power_watts": settings.power_watts, "usd_per_kwh": settings.usd_per_kwh}
    )
    return TaskResult(TASK_ID, "performance", "performance", repeats, metrics, {"price": price})
