"""Alert rules in YAML, checked against the ledger: `warden monitor check --rules alerts.yaml` exits 1 when one fires.

rules:
  - name: server errors          # shown in the output and the ledger
    metric: error_rate           # see METRICS
    window: 1h                   # default 1h; drift_p: the current window
    above: 0.05                  # fires when the value is above (or `below:` for under) the threshold
    model: default               # optional: only this public model name
    min_requests: 20             # optional: too few requests in the window and the rule stays quiet
  - name: traffic drift
    metric: drift_p              # the smallest Holm-adjusted p of `warden monitor drift`
    reference: 30d..7d
    window: 7d
    below: 0.01
  - name: budget
    metric: budget_use           # the highest share of its USD or token budget any key has spent
    above: 0.9
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from weightwarden.errors import ConfigError, WardenError
from weightwarden.ledger import Ledger
from weightwarden.monitor.drift import drift
from weightwarden.monitor.rollup import UsageRow, usage
from weightwarden.monitor.window import Window, parse_window

USAGE_METRICS = {
    "requests": "requests in the window",
    "usd": "USD spent in the window",
    "tokens": "prompt and completion tokens in the window",
    "error_rate": "share of requests answered 5xx",
    "client_error_rate": "share of requests answered 4xx other than 429",
    "rate_limited_rate": "share of requests answered 429",
    "latency_p50_ms": "median request time",
    "latency_p95_ms": "95th percentile of request time",
    "latency_p99_ms": "99th percentile of request time",
    "guard_block_rate": "blocking guard verdicts per request",
    "guard_flag_rate": "triggered guard verdicts (any action) per request",
}
METRICS = {
    **USAGE_METRICS,
    "drift_p": "smallest Holm-adjusted p-value of the drift tests (current window against `reference`)",
    "budget_use": "highest share of its budget (USD or tokens) any key has spent",
}
_KEYS = {"name", "metric", "window", "above", "below", "model", "min_requests", "reference", "alpha"}


@dataclass(frozen=True)
class Rule:
    name: str
    metric: str
    window: str = "1h"
    above: float | None = None
    below: float | None = None
    model: str | None = None
    min_requests: int = 1
    reference: str | None = None

    def fires(self, value: float) -> bool:
        return (self.above is not None and value > self.above) or (self.below is not None and value < self.below)

    @property
    def threshold(self) -> str:
        return f"> {self.above:g}" if self.above is not None else f"< {self.below:g}"


@dataclass(frozen=True)
class RuleResult:
    """A rule's value now, and whether it fires; value None means the rule could not be evaluated (see note)."""

    rule: Rule
    value: float | None
    firing: bool
    note: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.rule.name,
            "metric": self.rule.metric,
            "window": self.rule.window,
            "model": self.rule.model,
            "threshold": self.rule.threshold,
            "value": self.value,
            "firing": self.firing,
            "note": self.note,
        }


def parse_rules(data: Any, source: str) -> list[Rule]:
    """Rules from parsed YAML; each mistake is a ConfigError that says how to fix it."""
    items = data.get("rules") if isinstance(data, dict) else None
    if not isinstance(items, list) or not items:
        raise ConfigError(f"{source}: write a `rules:` list, each rule with name, metric and above or below")
    rules = []
    for i, item in enumerate(items):
        where = f"{source}: rule {i + 1}"
        if not isinstance(item, dict):
            raise ConfigError(f"{where} is not a mapping (name, metric, window, above or below)")
        if unknown := sorted(set(item) - _KEYS):
            raise ConfigError(
                f"{where}: unknown key(s) {', '.join(map(str, unknown))}; known: {', '.join(sorted(_KEYS))}"
            )
        metric = item.get("metric")
        if metric not in METRICS:
            raise ConfigError(f"{where}: metric {metric!r} is not one of {', '.join(METRICS)}")
        if ("above" in item) == ("below" in item):
            raise ConfigError(f"{where}: give exactly one of above: or below:")
        bound = item.get("above", item.get("below"))
        if isinstance(bound, bool) or not isinstance(bound, (int, float)):
            raise ConfigError(f"{where}: the threshold must be a number")
        if metric == "drift_p" and not item.get("reference"):
            raise ConfigError(f"{where}: drift_p needs a reference window, such as reference: 30d..7d")
        window = str(item.get("window", "7d" if metric == "drift_p" else "1h"))
        parse_window(window)  # fail now, not at check time
        if item.get("reference"):
            parse_window(str(item["reference"]))
        rules.append(
            Rule(
                name=str(item.get("name") or f"{metric} {'above' if 'above' in item else 'below'} {bound}"),
                metric=metric,
                window=window,
                above=float(bound) if "above" in item else None,
                below=float(bound) if "below" in item else None,
                model=None if item.get("model") is None else str(item["model"]),
                min_requests=int(item.get("min_requests", 1)),
                reference=None if item.get("reference") is None else str(item["reference"]),
            )
        )
    return rules


def load_rules(path: Path | str) -> list[Rule]:
    p = Path(path)
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read the rules file {p}: {exc.strerror or exc}; check the path") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"the rules file {p} is not valid YAML: {exc}") from None
    return parse_rules(data, str(p))


def _usage_value(metric: str, row: UsageRow) -> float | None:
    data = row.as_dict()
    if metric == "client_error_rate":
        return row.rate(row.client_errors)
    if metric in ("guard_block_rate", "guard_flag_rate"):
        counts = row.guard.items()
        hits = sum(n for name, n in counts if metric == "guard_flag_rate" or name.endswith(":block"))
        return hits / row.requests if row.requests else 0.0
    value = data[metric]
    return None if value is None else float(value)


def _budget_use(ledger: Ledger) -> float:
    used = [0.0]
    for key in ledger.api_keys():
        if key.revoked_at is not None:
            continue
        if key.budget_usd:
            used.append(key.spent_usd / key.budget_usd)
        if key.budget_tokens:
            used.append(key.spent_tokens / key.budget_tokens)
    return max(used)


def evaluate(ledger: Ledger, rules: list[Rule]) -> list[RuleResult]:
    """Every rule's value over its window, now."""
    results = []
    for rule in rules:
        window = parse_window(rule.window)
        if rule.metric == "budget_use":
            spent = _budget_use(ledger)
            results.append(RuleResult(rule, spent, rule.fires(spent)))
            continue
        total = usage(ledger, window, (), model=rule.model).total
        if total.requests < rule.min_requests:
            note = f"{total.requests} requests in the window, fewer than min_requests {rule.min_requests}"
            results.append(RuleResult(rule, None, False, note))
            continue
        if rule.metric == "drift_p":
            assert rule.reference is not None
            try:
                report = drift(ledger, parse_window(rule.reference), window, model=rule.model)
            except WardenError as exc:  # an empty reference, say: the rule cannot say anything
                results.append(RuleResult(rule, None, False, str(exc)))
                continue
            results.append(RuleResult(rule, report.min_p, rule.fires(report.min_p)))
            continue
        value = _usage_value(rule.metric, total)
        results.append(RuleResult(rule, value, value is not None and rule.fires(value)))
    return results


def widest(rules: list[Rule]) -> Window:
    """The window that covers every rule's, for recording which models the check concerned."""
    windows = [parse_window(r.window) for r in rules]
    return Window(min(w.since for w in windows), max(w.until for w in windows), "rules")
