"""The thin adapter from the ledger to `compare`: the per-item scores of a stored eval run.

An eval run (kind `eval`) has one item per (task id, item id), keyed "<task id>/<item id>"; the item's `input`
may carry `task` and `item` (or `item_id`, `id`), which win over the key. Every numeric value in its `scores` (a
number, a bool, or {"value": number}) becomes one MetricScore, except `primary` (the runner's copy of the headline
score); other entries (text, lists, None) are skipped. A safety item's `refused` score also counts under
`refusal_rate_harmful` or `refusal_rate_benign`, by its `should_refuse`, so gates can name those rates; a pair
item's `prefers_more` counts under `stereotype_preference`.

Metrics over groups of items come from the items' metadata as `GroupedScore`s: `balance` from safety items
(`refused`, grouped by `should_refuse` into harmful and benign) and `accuracy_gap:<attribute>` from bias items with
a `group` ("gender:female") and an `acc` score.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from weightwarden.eval.compare import CompareError, GroupedScore, MetricScore
from weightwarden.eval.runner import RESUMED_ELSEWHERE
from weightwarden.ledger import Ledger
from weightwarden.ledger.records import ItemRecord, RunRecord
from weightwarden.runtimes.platform_info import PLATFORM_KEY, platform_differences

NOT_PAIRED = (
    "scores may differ in the last bits and greedy answers at near ties; "
    "rerun both on one machine for a paired comparison"
)


def _task_and_id(item: ItemRecord) -> tuple[str, str]:
    inp = item.input
    if isinstance(inp, dict) and isinstance(inp.get("task"), str):
        item_id = next((inp[k] for k in ("item", "item_id", "id") if k in inp), None)
        if isinstance(item_id, str | int):
            return inp["task"], str(item_id)
    task, sep, item_id = item.key.partition("/")
    if not sep or not task or not item_id:
        raise CompareError(
            f"eval item {item.key!r} of run {item.run_id} names no task: expected a key '<task id>/<item id>'"
        )
    return task, item_id


def _number(value: Any) -> float | None:
    if isinstance(value, dict):
        value = value.get("value")
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, int | float):
        return float(value)
    return None


SKIPPED = ("primary",)


def _derived(item: ItemRecord, scores: dict[str, float]) -> dict[str, float]:
    """Per-item values of the task metrics that the runner computes from other scores."""
    out: dict[str, float] = {}
    inp = item.input if isinstance(item.input, dict) else {}
    if "refused" in scores and isinstance(inp.get("should_refuse"), bool):
        out["refusal_rate_harmful" if inp["should_refuse"] else "refusal_rate_benign"] = scores["refused"]
    if "prefers_more" in scores:
        out["stereotype_preference"] = scores["prefers_more"]
    return out


def item_scores(items: list[ItemRecord]) -> list[MetricScore]:
    out = []
    for item in items:
        task, item_id = _task_and_id(item)
        scores = {
            str(k): v for k, raw in (item.scores or {}).items() if k not in SKIPPED and (v := _number(raw)) is not None
        }
        for metric, value in (scores | _derived(item, scores)).items():
            out.append(MetricScore(task, item_id, metric, value))
    return out


def grouped_scores(items: list[ItemRecord]) -> list[GroupedScore]:
    out = []
    for item in items:
        inp = item.input if isinstance(item.input, dict) else {}
        scores = item.scores or {}
        task, item_id = _task_and_id(item)
        refused = _number(scores.get("refused"))
        if refused is not None and isinstance(inp.get("should_refuse"), bool):
            group = "harmful" if inp["should_refuse"] else "benign"
            out.append(GroupedScore(task, item_id, "balance", group, refused))
        acc = _number(scores.get("acc"))
        group_name = inp.get("group")
        if acc is not None and isinstance(group_name, str) and group_name:
            out.append(GroupedScore(task, item_id, f"accuracy_gap:{group_name.split(':', 1)[0]}", group_name, acc))
    return out


def run_grouped_scores(ledger: Ledger, run_id: str) -> list[GroupedScore]:
    """The GroupedScores of an eval run (none when its tasks have no safety or bias items)."""
    return grouped_scores(ledger.items(run_id))


def eval_run(ledger: Ledger, run_id: str, side: str) -> RunRecord:
    """The run, checked to exist and to be an eval run."""
    run = ledger.run(run_id)
    if run is None:
        raise CompareError(
            f"no run {run_id!r} in the ledger {ledger.url} ({side}): check the id that `warden eval` printed"
        )
    if run.kind != "eval":
        raise CompareError(
            f"run {run_id} ({side}) is a {run.kind!r} run, not an eval run: pass the id `warden eval` printed"
        )
    return run


def run_scores(ledger: Ledger, run_id: str, side: str = "run") -> list[MetricScore]:
    """All ItemScores of an eval run."""
    eval_run(ledger, run_id, side)
    scores = item_scores(ledger.items(run_id))
    if not scores:
        raise CompareError(f"eval run {run_id} ({side}) has no scored items: did it finish? rerun `warden eval`")
    return scores


@dataclass(frozen=True)
class PlatformCheck:
    """Where two runs ran and, in words, what differs between them that can change scores.

    base, candidate: the platforms the runs recorded (None for a run made before runs recorded one).
    warnings: what to tell the user; empty when both ran on one build, CPU, library versions and thread count.
    """

    base: dict[str, Any] | None
    candidate: dict[str, Any] | None
    differs: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def same(self) -> bool:
        return not self.warnings

    def as_dict(self) -> dict[str, Any]:
        return {
            "same": self.same,
            "base": self.base,
            "candidate": self.candidate,
            "differs": list(self.differs),
            "warnings": list(self.warnings),
        }


def _platform(run: RunRecord) -> dict[str, Any] | None:
    stored = run.config.get(PLATFORM_KEY)
    return stored if isinstance(stored, dict) else None


def platform_check(ledger: Ledger, base: RunRecord, candidate: RunRecord) -> PlatformCheck:
    """Compare where two eval runs ran; a paired test assumes both ran the same kernels on the same CPU."""
    a, b = _platform(base), _platform(candidate)
    warnings: list[str] = []
    differs: list[str] = []
    missing = [f"{side} run {run.id}" for side, run, p in (("base", base, a), ("candidate", candidate, b)) if p is None]
    if missing:
        warnings.append(
            f"{' and '.join(missing)} recorded no platform (made before runs recorded one): cannot tell whether both "
            f"ran on one build and CPU; if not, {NOT_PAIRED}"
        )
    elif a is not None and b is not None:
        same_backend = base.config.get("backend") == candidate.config.get("backend")
        differs = platform_differences(a, b, backend=base.config.get("backend") if same_backend else None)
        if differs:
            warnings.append(
                f"base run {base.id} and candidate run {candidate.id} ran on different builds or CPUs "
                f"({'; '.join(differs)}): {NOT_PAIRED}"
            )
    for side, run in (("base", base), ("candidate", candidate)):
        for event in ledger.events(run.id):
            if event.kind == RESUMED_ELSEWHERE:
                moved = "; ".join(str(d) for d in event.payload.get("differs", []))
                warnings.append(
                    f"{side} run {run.id} was resumed on another build or CPU than it began on ({moved}): "
                    f"its items come from both; {NOT_PAIRED}"
                )
    return PlatformCheck(a, b, differs, warnings)
