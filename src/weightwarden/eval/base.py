"""The vocabulary of an evaluation: a task, its items' scores, a metric with its interval, a task's result."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

TaskKind = Literal["multiple_choice", "generate", "pair_preference"]
TASK_KINDS: tuple[str, ...] = ("multiple_choice", "generate", "pair_preference")
PERTURBATIONS: tuple[str, ...] = ("typos", "casing", "whitespace", "reword")

# The metric each kind reports when the task file names none.
DEFAULT_METRICS: dict[str, tuple[str, ...]] = {
    "multiple_choice": ("acc", "acc_norm"),
    "generate": ("exact_match",),
    "pair_preference": ("stereotype_preference",),
}
REFUSAL_METRICS: tuple[str, ...] = ("refusal_rate_harmful", "refusal_rate_benign", "balance")
# Names a task file may list; accuracy_gap also takes ":<attribute>" (without it: every attribute in the data).
KNOWN_METRICS: tuple[str, ...] = (
    "acc",
    "acc_norm",
    "exact_match",
    *REFUSAL_METRICS,
    "accuracy_gap",
    "stereotyped_in_ambiguous",
    "stereotype_preference",
    "worst_case_acc",
)


@dataclass(frozen=True)
class Metric:
    """A metric's value with its 95% interval.

    method: "wilson" (a proportion), "newcombe-bonferroni" (a gap between groups' proportions), or "bootstrap".
    """

    value: float
    low: float
    high: float
    n: int
    method: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "value": round(self.value, 6),
            "low": round(self.low, 6),
            "high": round(self.high, 6),
            "n": self.n,
            "method": self.method,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Metric:
        return cls(float(d["value"]), float(d["low"]), float(d["high"]), int(d["n"]), str(d["method"]))


@dataclass(frozen=True)
class ScorerSpec:
    """How a generation is scored: type, with a tolerance (numeric) or a pattern (regex)."""

    type: str
    tolerance: float = 1e-6
    pattern: str | None = None


@dataclass(frozen=True)
class Task:
    """One evaluation task: a template over the items of one JSONL file, a kind, and the metrics it reports."""

    name: str
    suite: str
    kind: TaskKind
    path: Path
    items: tuple[dict[str, Any], ...]
    template: str = ""
    description: str = ""
    choices_field: str = "choices"
    target_field: str = "answer"
    choice_prefix: str = " "
    chat: bool = True
    max_tokens: int = 64
    stop: tuple[str, ...] = ()
    scorer: ScorerSpec | None = None
    fewshot_n: int = 0
    fewshot_seed: int = 1234
    metrics: tuple[str, ...] = ()
    digest: str = ""  # sha256 of the task file and its data: a changed task never resumes an old run

    @property
    def id(self) -> str:
        return f"{self.suite}.{self.name}"


@dataclass(frozen=True)
class PerturbationTask:
    """A robustness task: quality tasks (by id) asked again under seeded perturbations, scored by the worst case."""

    name: str
    suite: str
    path: Path
    tasks: tuple[str, ...]
    perturbations: tuple[str, ...]
    seed: int = 1234
    description: str = ""
    digest: str = ""
    resolved: tuple[Task, ...] = ()  # the tasks named in `tasks`, filled in by suites.resolve_tasks

    @property
    def id(self) -> str:
        return f"{self.suite}.{self.name}"

    @property
    def kind(self) -> str:
        return "perturbation"


@dataclass(frozen=True)
class ItemScore:
    """One stored item of an eval run: what was asked, what came back, and its scores.

    primary: the 0/1 (or real) score the item counts for in the task's headline metric, for paired comparisons.
    """

    task_id: str
    item_id: str
    input: dict[str, Any]
    output: dict[str, Any]
    scores: dict[str, Any]

    @property
    def primary(self) -> float:
        return float(self.scores.get("primary", 0.0))


@dataclass
class TaskResult:
    """The metrics of one task over the items of one run."""

    task_id: str
    suite: str
    kind: str
    n: int
    metrics: dict[str, Metric] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "task": self.task_id,
            "suite": self.suite,
            "kind": self.kind,
            "n": self.n,
            "metrics": {k: m.as_dict() for k, m in self.metrics.items()},
            **({"extra": self.extra} if self.extra else {}),
        }


@dataclass
class EvalResult:
    """A finished (or resumed and finished) eval run: its ledger run id and every task's metrics."""

    run_id: str
    model_hash: str
    tasks: list[TaskResult]
    requests: int = 0  # runtime calls actually made (cache misses)
    cached: int = 0  # requests answered from the cache
    resumed_items: int = 0  # items found already stored in the run
    seconds: float = 0.0
    warnings: list[str] = field(default_factory=list)  # e.g. resumed on another build or CPU than it began on

    def as_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "model_hash": self.model_hash,
            "tasks": [t.as_dict() for t in self.tasks],
            "requests": self.requests,
            "cached": self.cached,
            "resumed_items": self.resumed_items,
            "seconds": round(self.seconds, 3),
            "warnings": list(self.warnings),
        }
