"""Speed on this machine: prompt and generation throughput, first-token latency, peak memory."""

from __future__ import annotations

from weightwarden.audit.context import AuditContext
from weightwarden.audit.result import StageResult
from weightwarden.runtimes.speed import measure_speed


class Speed:
    name = "speed"
    title = "Speed on this machine"
    description = "Prompt and generated tokens per second, first-token latency and peak RSS (best of two runs)."

    def run(self, ctx: AuditContext) -> StageResult:
        speed = measure_speed(ctx.runtime, repeats=1 if ctx.quick else 2)
        d = speed.as_dict()
        summary = (
            f"{speed.prompt_tokens_per_s:.0f} prompt tok/s · {speed.generation_tokens_per_s:.1f} generated tok/s · "
            f"first token {speed.first_token_s * 1000:.0f} ms · peak RSS {speed.peak_rss_mb:.0f} MB"
        )
        rows = [{"measure": k, "value": round(v, 3)} for k, v in d.items()]
        return StageResult(self.name, self.title, "ok", summary, rows, d)
