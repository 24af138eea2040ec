"""Easy multiple-choice items the 135M default model gets right, scored by exact log-likelihood (acc, acc_norm).

Shared by the compare tests and bench/vs_lm_eval.py; the prompt is the one the lm-eval task YAML uses.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Protocol

from weightwarden.eval.compare import MetricScore
from weightwarden.runtimes.base import LogLikelihood

EASY_MC = Path(__file__).parent / "data" / "compare_easy_mc.jsonl"
TASK = "quality.easy_mc"


class Scorer(Protocol):
    def loglikelihood(self, context: str, continuation: str) -> LogLikelihood: ...


def load_items(path: Path = EASY_MC) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def prompt(item: dict[str, Any]) -> str:
    return f"Question: {item['question']}\nAnswer:"


def score_items(
    runtime: Scorer, items: list[dict[str, Any]], task: str = TASK, *, batched: bool = False
) -> list[MetricScore]:
    """acc: argmax of the summed log-likelihood; acc_norm: argmax of it divided by the choice's length in bytes.

    batched: score every request in one loglikelihood_batch call (the runtime must have it).
    """
    requests = [(prompt(item), " " + c) for item in items for c in item["choices"]]
    if batched:
        totals = iter([ll.total for ll in runtime.loglikelihood_batch(requests)])  # type: ignore[attr-defined]
    else:
        totals = iter([runtime.loglikelihood(ctx, cont).total for ctx, cont in requests])
    out = []
    for item in items:
        lls = [next(totals) for _ in item["choices"]]
        norm = [ll / len(c.encode("utf-8")) for ll, c in zip(lls, item["choices"], strict=True)]
        target = int(item["answer"])
        acc = float(max(range(len(lls)), key=lls.__getitem__) == target)
        acc_norm = float(max(range(len(norm)), key=norm.__getitem__) == target)
        out += [MetricScore(task, item["id"], "acc", acc), MetricScore(task, item["id"], "acc_norm", acc_norm)]
    return out


def accuracy(scores: list[MetricScore], metric: str = "acc") -> float:
    vals = [s.value for s in scores if s.metric == metric]
    return sum(vals) / len(vals)
