"""Smoke generations: a few greedy chat answers, and whether temperature 0 and seeded sampling repeat."""

from __future__ import annotations

from typing import Any

from weightwarden.audit.context import AuditContext
from weightwarden.audit.result import StageResult, Status
from weightwarden.ledger import ItemRecord
from weightwarden.runtimes import GenerationParams, Message

SMOKE_PROMPTS = (
    "What is the capital of France? Answer in one word.",
    "Write one sentence about the sea.",
    "What is 2 + 3? Reply with the number only.",
    "Name three colours.",
)


class Smoke:
    name = "smoke"
    title = "Smoke generations"
    description = (
        "Greedy chat answers to four prompts (kept as items of the audit run); the first asked twice (temperature 0 "
        "must repeat), one sampled twice with a seed (must repeat)."
    )

    def run(self, ctx: AuditContext) -> StageResult:
        rt = ctx.runtime
        greedy = GenerationParams(max_tokens=48, temperature=0.0)
        rows: list[dict[str, Any]] = []
        items: list[ItemRecord] = []
        for i, prompt in enumerate(SMOKE_PROMPTS):
            gen = rt.chat([Message("user", prompt)], greedy)
            rows.append(
                {
                    "prompt": prompt,
                    "answer": gen.text.strip(),
                    "tokens": gen.completion_tokens,
                    "seconds": round(gen.seconds, 3),
                }
            )
            items.append(
                ItemRecord(
                    key=f"smoke-{i}",
                    input={"prompt": prompt},
                    output={"text": gen.text},
                    scores={"tokens": gen.completion_tokens},
                )
            )
        again = rt.chat([Message("user", SMOKE_PROMPTS[0])], greedy).text.strip()
        deterministic = again == rows[0]["answer"]
        sampled = GenerationParams(max_tokens=24, temperature=0.9, seed=1234)
        s1 = rt.chat([Message("user", SMOKE_PROMPTS[1])], sampled).text
        s2 = rt.chat([Message("user", SMOKE_PROMPTS[1])], sampled).text
        seeded = s1 == s2
        ctx.ledger.add_items(ctx.run_id, items)
        empty = sum(1 for r in rows if not r["answer"])
        status: Status = "ok" if deterministic and seeded and not empty else "fail"
        summary = (
            f"{len(rows)} answers ({empty} empty); temperature 0 repeats: {'yes' if deterministic else 'NO'}; "
            f"seeded sampling repeats: {'yes' if seeded else 'NO'}"
        )
        data = {"deterministic": deterministic, "seeded": seeded}
        return StageResult(self.name, self.title, status, summary, rows, data)
