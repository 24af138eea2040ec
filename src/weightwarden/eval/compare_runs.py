"""The thin adapter from the ledger to `compare`: the per-item scores of a stored eval run.

An eval run (kind `eval`) has one item per (task id, item id). The item's `input` may carry `task` and `item_id`
(or `id`); otherwise its key is read as "<task id>/<item id>". Every numeric value in its `scores` (a number, a
bool, or {"value": number}) becomes one ItemScore; other entries (text, lists, None) are skipped.
"""

from __future__ import annotations

from typing import Any

from weightwarden.eval.compare import CompareError, ItemScore
from weightwarden.ledger import Ledger
from weightwarden.ledger.records import ItemRecord, RunRecord


def _task_and_id(item: ItemRecord) -> tuple[str, str]:
    inp = item.input
    if isinstance(inp, dict) and isinstance(inp.get("task"), str):
        item_id = inp.get("item_id", inp.get("id"))
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


def item_scores(items: list[ItemRecord]) -> list[ItemScore]:
    out = []
    for item in items:
        task, item_id = _task_and_id(item)
        for metric, raw in (item.scores or {}).items():
            value = _number(raw)
            if value is not None:
                out.append(ItemScore(task, item_id, str(metric), value))
    return out


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


def run_scores(ledger: Ledger, run_id: str, side: str = "run") -> list[ItemScore]:
    """All ItemScores of an eval run."""
    eval_run(ledger, run_id, side)
    scores = item_scores(ledger.items(run_id))
    if not scores:
        raise CompareError(f"eval run {run_id} ({side}) has no scored items: did it finish? rerun `warden eval`")
    return scores
