"""After deployment: usage and cost, request sketches, drift and alert rules, from the gateway's own ledger.

from weightwarden.monitor import usage, parse_window

report = usage(ledger, parse_window("7d"), ("key", "model", "day"))
"""

from weightwarden.monitor.rollup import UsageReport, UsageRow, usage
from weightwarden.monitor.window import Window, parse_window

__all__ = ["UsageReport", "UsageRow", "Window", "parse_window", "usage"]
