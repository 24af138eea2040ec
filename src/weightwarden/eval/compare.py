"""Base against candidate: pair two runs' per-item scores, test every metric's delta, list flips, apply gates.

Independent of the runner: the input is plain `MetricScore` records, one per (task, item, metric), per side.
`weightwarden.eval.compare_runs` reads them from the ledger's eval runs.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np

from weightwarden.errors import WardenError
from weightwarden.eval.groups import balance, gap
from weightwarden.eval.stats_paired import BOOTSTRAP_SEED, PairedResult, is_binary, paired, paired_group_test

# Metrics where a rise is the regression; every other metric is "higher is better".
LOWER_IS_BETTER = ("refusal_rate_benign", "stereotyped_in_ambiguous", "stereotype_preference", "accuracy_gap")
GATE_KEYS = ("max_drop", "significance", "higher_is_better")


class CompareError(WardenError):
    """Two runs that cannot be compared, or a gate that cannot be applied."""


def lower_is_better(metric: str) -> bool:
    return metric.split(":", 1)[0] in LOWER_IS_BETTER


@dataclass(frozen=True)
class MetricScore:
    """One metric's value on one item of one run; value is 1.0/0.0 for right/wrong."""

    task: str  # "<suite>.<name>", e.g. "quality.world_mc"
    item_id: str
    metric: str  # "acc", "acc_norm", "refusal_rate_harmful", ...
    value: float


@dataclass(frozen=True)
class GroupedScore:
    """One item's outcome under a metric computed over groups of items, with the item's group.

    metric "balance": group "harmful" or "benign", value 1.0 when the answer was a refusal;
    metric "accuracy_gap:<attribute>": group such as "gender:female", value 1.0 when the answer was right.
    """

    task: str
    item_id: str
    metric: str
    group: str
    value: float


def _balance(values: np.ndarray, labels: np.ndarray) -> float:
    """balance() over items labelled "harmful" or "benign"."""
    return balance(values, labels == "harmful")


def group_statistic(metric: str) -> Callable[[np.ndarray, np.ndarray], float]:
    base = metric.split(":", 1)[0]
    if base == "balance":
        return _balance
    if base == "accuracy_gap":
        return gap
    raise CompareError(f"no group statistic for metric {metric!r}: expected balance or accuracy_gap:<attribute>")


def _usable(metric: str, labels: Sequence[str]) -> bool:
    present = set(labels)
    if metric == "balance":
        return {"harmful", "benign"} <= present
    return len(present) >= 2


@dataclass(frozen=True)
class MetricComparison:
    """One metric compared over the items both runs scored, for one task or pooled over a suite.

    name: what a gate names: "<suite>.<task>.<metric>" per task, "<suite>.<metric>" per suite.
    """

    name: str
    level: Literal["task", "suite"]
    metric: str
    higher_is_better: bool
    result: PairedResult

    @property
    def drop(self) -> float:
        """How much worse the candidate is (negative when it is better)."""
        return -self.result.delta if self.higher_is_better else self.result.delta

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "level": self.level,
            "metric": self.metric,
            "higher_is_better": self.higher_is_better,
            "drop": self.drop,
            **asdict(self.result),
        }


@dataclass(frozen=True)
class Flip:
    """An item whose right/wrong outcome changed between base and candidate."""

    task: str
    item_id: str
    metric: str
    base: float
    candidate: float

    @property
    def direction(self) -> Literal["right->wrong", "wrong->right"]:
        return "right->wrong" if self.base > self.candidate else "wrong->right"

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "direction": self.direction}


@dataclass(frozen=True)
class Gate:
    """Fail when `metric` drops by more than max_drop (and, with significance, the paired p-value is below it).

    higher_is_better: None takes the metric's usual direction (see LOWER_IS_BETTER).
    """

    metric: str
    max_drop: float
    significance: float | None = None
    higher_is_better: bool | None = None

    def __post_init__(self) -> None:
        if not self.max_drop >= 0:
            raise CompareError(f"gate {self.metric}: max_drop must be a number >= 0, got {self.max_drop}")
        if self.significance is not None and not 0 < self.significance < 1:
            raise CompareError(f"gate {self.metric}: significance must be between 0 and 1, got {self.significance}")


@dataclass(frozen=True)
class GateResult:
    gate: Gate
    drop: float
    p_value: float
    n: int
    passed: bool
    reason: str

    def as_dict(self) -> dict[str, Any]:
        return {
            **asdict(self.gate),
            "drop": self.drop,
            "p_value": self.p_value,
            "n": self.n,
            "passed": self.passed,
            "reason": self.reason,
        }


@dataclass
class Comparison:
    """Every metric's paired delta, the flipped items, and what could not be paired."""

    metrics: list[MetricComparison]
    flips: list[Flip]
    base_only: list[tuple[str, str]] = field(default_factory=list)  # (task, item id) scored only in base
    candidate_only: list[tuple[str, str]] = field(default_factory=list)

    def get(self, name: str) -> MetricComparison | None:
        return next((m for m in self.metrics if m.name == name), None)

    def check(self, gates: Iterable[Gate]) -> list[GateResult]:
        """Apply each gate; a gate naming a metric these runs do not have is an error, never a silent pass."""
        return [self._check(g) for g in gates]

    def _check(self, gate: Gate) -> GateResult:
        mc = self.get(gate.metric)
        if mc is None:
            names = ", ".join(m.name for m in self.metrics) or "none"
            raise CompareError(f"gate {gate.metric!r} names no metric of these runs; they have: {names}")
        higher = mc.higher_is_better if gate.higher_is_better is None else gate.higher_is_better
        drop = -mc.result.delta if higher else mc.result.delta
        p = mc.result.p_value
        too_big = drop > gate.max_drop + 1e-12
        significant = gate.significance is None or p < gate.significance
        passed = not (too_big and significant)
        if not too_big:
            reason = f"drop {drop:+.4f} within max_drop {gate.max_drop}"
        elif not significant:
            reason = f"drop {drop:+.4f} over max_drop {gate.max_drop} but p={p:.3g} >= {gate.significance}"
        else:
            extra = f" and p={p:.3g} < {gate.significance}" if gate.significance is not None else ""
            reason = f"drop {drop:+.4f} over max_drop {gate.max_drop}{extra}"
        return GateResult(gate, drop, p, mc.result.n, passed, reason)

    def as_dict(self) -> dict[str, Any]:
        return {
            "metrics": [m.as_dict() for m in self.metrics],
            "flips": [f.as_dict() for f in self.flips],
            "unpaired": {
                "base_only": [list(k) for k in self.base_only],
                "candidate_only": [list(k) for k in self.candidate_only],
            },
        }


def suite_of(task: str) -> str:
    return task.split(".", 1)[0]


def _index(scores: Iterable[MetricScore], side: str) -> dict[tuple[str, str, str], float]:
    out: dict[tuple[str, str, str], float] = {}
    for s in scores:
        key = (s.task, s.item_id, s.metric)
        if key in out:
            raise CompareError(f"{side} run scores {s.metric} of item {s.item_id!r} of task {s.task} twice")
        out[key] = float(s.value)
    return out


def _grouped_index(scores: Iterable[GroupedScore], side: str) -> dict[tuple[str, str, str], tuple[str, float]]:
    out: dict[tuple[str, str, str], tuple[str, float]] = {}
    for s in scores:
        key = (s.task, s.item_id, s.metric)
        if key in out:
            raise CompareError(f"{side} run scores {s.metric} of item {s.item_id!r} of task {s.task} twice")
        out[key] = (s.group, float(s.value))
    return out


def _compare_grouped(
    base: Iterable[GroupedScore], candidate: Iterable[GroupedScore], seed: int
) -> list[MetricComparison]:
    """Metrics over groups of items (balance, accuracy gaps), per task and pooled per suite, paired by item."""
    b, c = _grouped_index(base, "base"), _grouped_index(candidate, "candidate")
    groups: dict[tuple[Literal["task", "suite"], str, str], list[tuple[str, str, str]]] = defaultdict(list)
    for key in sorted(b.keys() & c.keys()):
        if b[key][0] != c[key][0]:
            raise CompareError(
                f"item {key[1]!r} of task {key[0]} is in group {b[key][0]!r} in base but {c[key][0]!r} in candidate: "
                "were the runs made from different task files?"
            )
        task, _, metric = key
        groups[("task", task, metric)].append(key)
        groups[("suite", suite_of(task), metric)].append(key)
    out: list[MetricComparison] = []
    for (level, where, metric), keys in groups.items():
        labels = [b[k][0] for k in keys]
        if not _usable(metric, labels):
            continue
        result = paired_group_test(
            [b[k][1] for k in keys], [c[k][1] for k in keys], labels, group_statistic(metric), seed=seed
        )
        out.append(MetricComparison(f"{where}.{metric}", level, metric, not lower_is_better(metric), result))
    return out


def compare(
    base: Iterable[MetricScore],
    candidate: Iterable[MetricScore],
    *,
    base_groups: Iterable[GroupedScore] = (),
    candidate_groups: Iterable[GroupedScore] = (),
    seed: int = BOOTSTRAP_SEED,
) -> Comparison:
    """Pair the two sides by (task, item id, metric) and compare every metric per task and pooled per suite.

    base_groups, candidate_groups: items of metrics computed over groups (balance, accuracy_gap:<attribute>); these
    are compared by a paired bootstrap resampling items within their group.
    """
    b, c = _index(base, "base"), _index(candidate, "candidate")
    b_items = {(t, i) for t, i, _ in b}
    c_items = {(t, i) for t, i, _ in c}
    paired_keys = sorted(b.keys() & c.keys())
    if not paired_keys:
        raise CompareError(
            "the two runs share no (task, item, metric): were they run on the same tasks? check the run ids"
        )
    groups: dict[tuple[Literal["task", "suite"], str, str], list[tuple[str, str, str]]] = defaultdict(list)
    for key in paired_keys:
        task, _, metric = key
        groups[("task", task, metric)].append(key)
        groups[("suite", suite_of(task), metric)].append(key)
    metrics: list[MetricComparison] = []
    for (level, where, metric), keys in groups.items():
        bv, cv = [b[k] for k in keys], [c[k] for k in keys]
        name = f"{where}.{metric}"
        metrics.append(MetricComparison(name, level, metric, not lower_is_better(metric), paired(bv, cv, seed=seed)))
    metrics += _compare_grouped(base_groups, candidate_groups, seed)
    # Per suite: the suite's pooled metrics, then each task's; alphabetical within each.
    metrics.sort(key=lambda m: (m.name.split(".", 1)[0], m.level == "task", m.name))
    flips = [
        Flip(t, i, m, b[(t, i, m)], c[(t, i, m)])
        for t, i, m in paired_keys
        if b[(t, i, m)] != c[(t, i, m)] and is_binary([b[(t, i, m)], c[(t, i, m)]])
    ]
    return Comparison(metrics, flips, sorted(b_items - c_items), sorted(c_items - b_items))


# -- gates from YAML or flags ---------------------------------------------------------------------------------
def _number(metric: str, key: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise CompareError(f"gate {metric}: {key} must be a number, got {value!r}")
    try:
        return float(value)
    except ValueError:
        raise CompareError(f"gate {metric}: {key} must be a number, got {value!r}") from None


def gate_from_mapping(metric: str, spec: Mapping[str, Any]) -> Gate:
    unknown = sorted(set(spec) - set(GATE_KEYS))
    if unknown:
        raise CompareError(f"gate {metric}: unknown key(s) {', '.join(unknown)}; use {', '.join(GATE_KEYS)}")
    if "max_drop" not in spec:
        raise CompareError(f"gate {metric}: max_drop is required, e.g. {metric}: {{max_drop: 0.01}}")
    sig = spec.get("significance")
    higher = spec.get("higher_is_better")
    if isinstance(higher, str):
        if higher.lower() not in ("true", "false"):
            raise CompareError(f"gate {metric}: higher_is_better must be true or false, got {higher!r}")
        higher = higher.lower() == "true"
    elif higher is not None and not isinstance(higher, bool):
        raise CompareError(f"gate {metric}: higher_is_better must be true or false, got {higher!r}")
    return Gate(
        metric,
        _number(metric, "max_drop", spec["max_drop"]),
        None if sig is None else _number(metric, "significance", sig),
        higher,
    )


def gates_from_yaml(text: str, source: str = "gates") -> list[Gate]:
    """Gates from YAML: a mapping of metric name to {max_drop, significance?, higher_is_better?}.

    A top-level `gates:` key holding that mapping is accepted too.
    """
    import yaml

    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise CompareError(f"{source} is not valid YAML: {exc}") from None
    if isinstance(data, dict) and set(data) == {"gates"}:
        data = data["gates"]
    if not isinstance(data, dict) or not data:
        raise CompareError(f"{source}: expected a mapping like `quality.acc: {{max_drop: 0.01}}`")
    gates = []
    for name, spec in data.items():
        if not isinstance(spec, dict):
            raise CompareError(f"{source}: gate {name} must be a mapping like {{max_drop: 0.01}}, got {spec!r}")
        gates.append(gate_from_mapping(str(name), spec))
    return gates


def gate_from_flag(flag: str) -> Gate:
    """`quality.acc:max_drop=0.01[,significance=0.05]`; the metric may itself hold colons (accuracy_gap:gender)."""
    metric, sep, rest = flag.rpartition(":")
    if not sep or not metric or "=" not in rest:
        raise CompareError(f"bad --gate {flag!r}: write METRIC:max_drop=0.01[,significance=0.05]")
    spec: dict[str, str] = {}
    for part in rest.split(","):
        key, eq, value = part.partition("=")
        if not eq or not key.strip():
            raise CompareError(f"bad --gate {flag!r}: {part!r} is not key=value")
        spec[key.strip()] = value.strip()
    return gate_from_mapping(metric.strip(), spec)
