"""Evaluation: the built-in suites on a spread-out sample of items, each metric with its 95% interval."""

from __future__ import annotations

from typing import Any

from weightwarden.audit.context import AuditContext
from weightwarden.audit.result import Figure, StageResult
from weightwarden.eval import available_suites, load_suite, run_eval

# Items per task the audit evaluates: a spread-out sample (its intervals show how little n is), so `make demo` takes
# minutes, not the hour or more the full suites take on two cores; `warden eval` or `audit --eval-limit 0` runs all.
AUDIT_EVAL_LIMIT = 10
# A --quick audit: on two busy cores the robustness suite's 128-token items take about 30 s each under five
# perturbations, so quick stays small.
QUICK_EVAL_LIMIT = 3
HEADLINE_METRICS = ("acc", "exact_match", "balance", "worst_case_acc", "stereotype_preference")


def item_limit(ctx: AuditContext) -> int | None:
    """Items per task for this audit; None: every item."""
    wanted = ctx.eval_limit if ctx.eval_limit is not None else AUDIT_EVAL_LIMIT
    if ctx.quick:
        wanted = min(wanted, QUICK_EVAL_LIMIT) if wanted else QUICK_EVAL_LIMIT
    return wanted or None


class Eval:
    name = "eval"
    title = "Evaluation"
    description = (
        "The built-in quality, safety, bias and robustness suites (a sample of items per task), recorded as an eval "
        "run; every metric with its 95% interval, charted per suite."
    )

    def run(self, ctx: AuditContext) -> StageResult:
        suites = available_suites()
        if not suites:
            return StageResult(
                self.name, self.title, "warn", "the built-in eval suites are not installed: reinstall weightwarden"
            )
        tasks = [t for suite in suites for t in load_suite(suite)]
        limit = item_limit(ctx)
        result = run_eval(ctx.runtime, ctx.artifact.sha256, tasks, ctx.ledger, limit=limit, progress=ctx.item_progress)
        rows: list[dict[str, Any]] = []
        by_suite: dict[str, list[dict[str, Any]]] = {}
        for t in result.tasks:
            for metric, m in t.metrics.items():
                row = {"suite": t.suite, "task": t.task_id, "metric": metric, **m.as_dict()}
                rows.append(row)
                by_suite.setdefault(t.suite, []).append(row)
        figures = [
            Figure(
                f"{suite} (95% intervals)",
                [{"label": f"{r['task'].split('.', 1)[-1]} · {r['metric']}", **r} for r in suite_rows],
            )
            for suite, suite_rows in by_suite.items()
        ]
        headline = [f"{r['task']} {r['metric']} {r['value']:.2f}" for r in rows if r["metric"] in HEADLINE_METRICS]
        n_items = sum(t.n for t in result.tasks)
        summary = (
            f"{len(result.tasks)} tasks in {', '.join(suites)}, {n_items} items"
            + (f" (at most {limit} per task)" if limit else "")
            + f"; {result.requests} model calls, {result.cached} cached; "
            + "; ".join(headline[:6])
        )
        data = {"run_id": result.run_id, "limit": limit, "suites": list(by_suite), "result": result.as_dict()}
        return StageResult(self.name, self.title, "ok", summary, rows, data, figures)
