"""After deployment: usage and cost, request sketches, drift and alert rules, from the gateway's own ledger.

    from weightwarden.monitor import drift, evaluate, load_rules, parse_window, usage

    report = usage(ledger, parse_window("7d"), ("key", "model", "day"))      # rollup.py: aggregated in SQL
    changed = drift(ledger, parse_window("2026-11-01..2026-11-30"), parse_window("7d"))   # drift.py
    fired = [r for r in evaluate(ledger, load_rules("alerts.yaml")) if r.firing]   # rules.py

Sketches (sketch.py) are made by a SketchWorker (worker.py) that the gateway hands each finished request.
"""

from weightwarden.monitor.drift import DriftReport, drift
from weightwarden.monitor.record import latest_result
from weightwarden.monitor.rollup import UsageReport, UsageRow, usage
from weightwarden.monitor.rules import Rule, RuleResult, evaluate, load_rules
from weightwarden.monitor.window import Window, parse_window

__all__ = [
    "DriftReport",
    "Rule",
    "RuleResult",
    "UsageReport",
    "UsageRow",
    "Window",
    "drift",
    "evaluate",
    "latest_result",
    "load_rules",
    "parse_window",
    "usage",
]
