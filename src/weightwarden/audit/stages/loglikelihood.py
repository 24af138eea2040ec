"""Log-likelihood: one scored continuation, so a broken scoring path shows up before an eval trusts it."""

from __future__ import annotations

from weightwarden.audit.context import AuditContext
from weightwarden.audit.result import StageResult, Status
from weightwarden.errors import WardenError

CONTEXT = "The capital of France is"
CONTINUATION = " Paris"
# llama.cpp's echo path gives about -8.45 here and transformers about -0.26 (DESIGN, traps): -3 tells them apart.
FLOOR = -3.0


class Loglikelihood:
    name = "loglikelihood"
    title = "Log-likelihood"
    description = "log P(' Paris' | 'The capital of France is') from the raw logits; warns when it is implausibly low."

    def run(self, ctx: AuditContext) -> StageResult:
        try:
            ll = ctx.runtime.loglikelihood(CONTEXT, CONTINUATION)
        except WardenError as exc:
            return StageResult(self.name, self.title, "warn", f"cannot score text: {exc}")
        row = {"context": CONTEXT, "continuation": CONTINUATION, "logprob": round(ll.total, 4), "greedy": ll.is_greedy}
        status: Status = "ok" if ll.total > FLOOR else "warn"
        summary = f"log P('{CONTINUATION}' | '{CONTEXT}') = {ll.total:.3f}"
        return StageResult(self.name, self.title, status, summary, [row], dict(row))
