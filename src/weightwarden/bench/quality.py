"""Quality on the workload's eval items: each backend's eval run (the eval runner, its cache and its ledger items),
paired item by item against the first backend's with the tests `warden compare` uses."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from weightwarden.errors import TaskError
from weightwarden.eval import load_run_items, load_suite, run_eval
from weightwarden.eval.compare import MetricScore, compare
from weightwarden.eval.compare_runs import run_scores
from weightwarden.eval.suites import EvalTask
from weightwarden.ledger import Ledger
from weightwarden.runtimes import Runtime

HEADLINE = "right"  # each item's headline outcome (acc for multiple choice, exact_match for generation), as 1/0
Progress = Callable[[int, int, str], None]


def bench_tasks(task_ids: Sequence[str]) -> list[EvalTask]:
    """The named tasks of the built-in suites, in the order named."""
    suites = {t.split(".", 1)[0] for t in task_ids}
    found = {t.id: t for s in sorted(suites) for t in load_suite(s)}
    missing = [t for t in task_ids if t not in found]
    if missing:
        raise TaskError(f"the bench's eval tasks {', '.join(missing)} are not installed: reinstall weightwarden")
    return [found[t] for t in task_ids]


def evaluate(
    runtime: Runtime,
    model_hash: str,
    tasks: Sequence[EvalTask],
    ledger: Ledger,
    items: int,
    progress: Progress | None = None,
) -> str:
    """Run the items on the runtime into an eval run (answers this backend already gave are reused); its id."""
    return run_eval(runtime, model_hash, tasks, ledger, limit=items, progress=progress).run_id


def _scores(ledger: Ledger, run_id: str) -> list[MetricScore]:
    """The run's per-item metric scores, plus each item's headline outcome under HEADLINE."""
    headline = [
        MetricScore(task, item, HEADLINE, float(score.scores["primary"]))
        for task, by_id in load_run_items(ledger, run_id).items()
        for item, score in by_id.items()
        if isinstance(score.scores.get("primary"), int | float)
    ]
    return run_scores(ledger, run_id) + headline


def paired_quality(ledger: Ledger, base_run: str, run: str, suite: str = "quality") -> dict[str, Any]:
    """This run against the base run: the headline (suite-level) paired result and every metric's, as JSON."""
    cmp = compare(_scores(ledger, base_run), _scores(ledger, run))
    head = cmp.get(f"{suite}.{HEADLINE}")
    assert head is not None  # both runs hold the same tasks, so the pooled headline exists
    r = head.result
    return {
        "metric": head.name,
        "n": r.n,
        "base": r.base,
        "value": r.candidate,
        "delta": r.delta,
        "low": r.low,
        "high": r.high,
        "p_value": r.p_value,
        "test": r.method,
        "flips": [f.as_dict() for f in cmp.flips if f.metric == HEADLINE],
        "unpaired": len(cmp.base_only) + len(cmp.candidate_only),
        "metrics": [m.as_dict() for m in cmp.metrics],
    }
