"""A canary: the served model answers a fixed item set, and the answers are compared with the first canary run.

A silent model swap, a changed upstream or a new quantization behind the same name keeps the target's identity
(for `openai:URL#model` the hash of the URL and the name), so the first canary run of that target with the same
tasks and limit is the baseline, and each later run is compared with it by `warden compare`'s paired tests.

It lives beside the audit pipeline because it combines two stages of one layer (eval and monitor), which the
import order lets only a later layer do.

    with Ledger(url) as ledger:
        result = run_canary(runtime, artifact.sha256, load_suite("quality"), ledger, limit=5)
        if result.regressed: ...
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from weightwarden.eval.compare import Comparison, MetricComparison, compare
from weightwarden.eval.compare_runs import run_grouped_scores, run_scores
from weightwarden.eval.runner import ProgressFn, run_eval
from weightwarden.eval.suites import EvalTask
from weightwarden.ledger import Ledger, RunRecord
from weightwarden.monitor.record import KIND
from weightwarden.runtimes.base import Runtime

CANARY_KEY = "canary"  # marks an eval run as a canary run in its config
RUNS_SEARCHED = 10_000  # eval runs of one model looked through for the baseline


@dataclass
class CanaryResult:
    """One canary run: its eval run, the baseline it was compared with, and what changed significantly."""

    run_id: str
    baseline_id: str
    monitor_run_id: str
    alpha: float
    comparison: Comparison | None  # None on the first run: it is the baseline
    scores: dict[str, float] = field(default_factory=dict)  # suite-level metric -> value in this run

    @property
    def is_baseline(self) -> bool:
        return self.comparison is None

    def _significant(self) -> list[MetricComparison]:
        if self.comparison is None:
            return []
        return [m for m in self.comparison.metrics if m.level == "suite" and m.result.p_value < self.alpha]

    @property
    def regressions(self) -> list[MetricComparison]:
        """Suite-level metrics significantly worse than the baseline (p below alpha, drop above zero)."""
        return [m for m in self._significant() if m.drop > 0]

    @property
    def improvements(self) -> list[MetricComparison]:
        return [m for m in self._significant() if m.drop < 0]

    @property
    def regressed(self) -> bool:
        return bool(self.regressions)

    def summary(self) -> dict[str, Any]:
        """What the ledger keeps: the verdict, the runs, each suite-level metric's delta and p, the flip count."""
        out: dict[str, Any] = {
            "run_id": self.run_id,
            "baseline_id": self.baseline_id,
            "baseline": self.is_baseline,
            "regressed": self.regressed,
            "changed": bool(self._significant()),
            "alpha": self.alpha,
            "scores": self.scores,
        }
        if self.comparison is not None:
            out["metrics"] = {
                m.name: {"delta": m.result.delta, "p_value": m.result.p_value, "n": m.result.n, "drop": m.drop}
                for m in self.comparison.metrics
                if m.level == "suite"
            }
            out["regressions"] = [m.name for m in self.regressions]
            out["flips"] = len(self.comparison.flips)
        return out


def _same_tasks(run: RunRecord, config: dict[str, Any]) -> bool:
    return all(run.config.get(k) == config[k] for k in ("tasks", "limit"))


def baseline_run(ledger: Ledger, model_hash: str, config: dict[str, Any], exclude: str) -> RunRecord | None:
    """The first finished canary run of this target with the same tasks and limit (not the run `exclude`)."""
    runs = ledger.runs(model_hash=model_hash, kind="eval", limit=RUNS_SEARCHED)
    for run in reversed(runs):  # oldest first
        if run.id != exclude and run.status == "ok" and run.config.get(CANARY_KEY) and _same_tasks(run, config):
            return run
    return None


def run_canary(
    runtime: Runtime,
    model_hash: str,
    tasks: Sequence[EvalTask],
    ledger: Ledger,
    *,
    target: str,
    limit: int | None = None,
    alpha: float = 0.05,
    progress: ProgressFn | None = None,
) -> CanaryResult:
    """Evaluate the served model afresh (no cached answers), compare with the baseline, record a monitor run.

    runtime: a Runtime for the target (usually a RemoteRuntime through the gateway); model_hash: the target's
    identity, already in the ledger. target: what the user named, kept in the monitor run's config.
    """
    result = run_eval(
        runtime,
        model_hash,
        tasks,
        ledger,
        limit=limit,
        auto_resume=False,
        use_cache=False,  # a cached answer would hide the very change a canary is for
        progress=progress,
        extra_config={CANARY_KEY: True, "target": target},
    )
    scores = {f"{t.task_id}.{name}": m.value for t in result.tasks for name, m in t.metrics.items()}
    run = ledger.run(result.run_id)
    assert run is not None
    base = baseline_run(ledger, model_hash, run.config, exclude=result.run_id)
    comparison = None
    if base is not None:
        comparison = compare(
            run_scores(ledger, base.id, "base"),
            run_scores(ledger, result.run_id, "candidate"),
            base_groups=run_grouped_scores(ledger, base.id),
            candidate_groups=run_grouped_scores(ledger, result.run_id),
        )
    canary = CanaryResult(result.run_id, base.id if base else result.run_id, "", alpha, comparison, scores)
    config = {"what": "canary", "target": target, "tasks": sorted(run.config.get("tasks", {})), "limit": limit}
    summary = canary.summary()
    ledger.add_event(KIND, {"what": "canary", "config": config, "summary": summary})
    canary.monitor_run_id = ledger.start_run(KIND, model_hash, config)
    ledger.finish_run(canary.monitor_run_id, "ok", {"what": "canary", **summary})
    return canary
