"""The latest monitor results as gauge values for the gateway's /metrics: drift p-values and effects, canary verdicts.

Read from the ledger's monitor events (what `warden monitor drift|check|canary` wrote), at most once per `ttl`
seconds however often /metrics is scraped: one small query, then every gauge reads the same snapshot.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import sqlalchemy as sa

from weightwarden.errors import WardenError
from weightwarden.ledger import Ledger
from weightwarden.ledger import schema as tables
from weightwarden.monitor.record import KIND

LabelValues = tuple[str, ...]
log = logging.getLogger(__name__)
SCANNED = 200  # newest monitor events looked through for the latest of each kind (and of each canary target)


class MonitorSnapshot:
    """The newest drift report and the newest canary run of each target, as gauge samples."""

    def __init__(self, events: list[dict[str, Any]]) -> None:
        self.drift: dict[str, Any] | None = None
        self.canaries: dict[str, dict[str, Any]] = {}
        self.times: dict[str, float] = {}
        for event in events:  # newest first
            payload = event["payload"] or {}
            what = str(payload.get("what", ""))
            summary = payload.get("summary") or {}
            self.times.setdefault(what, event["time"].timestamp())
            if what == "drift" and self.drift is None:
                self.drift = summary
            elif what == "canary":
                target = str((payload.get("config") or {}).get("target", ""))
                self.canaries.setdefault(target, summary)

    def drift_tests(self, key: str) -> dict[LabelValues, float]:
        tests = (self.drift or {}).get("tests") or {}
        return {(name,): float(t[key]) for name, t in tests.items() if t.get(key) is not None}

    def drift_detected(self) -> dict[LabelValues, float]:
        return {} if self.drift is None else {(): float(bool(self.drift.get("drifted")))}

    def canary_regressed(self) -> dict[LabelValues, float]:
        return {(t,): float(bool(s.get("regressed"))) for t, s in self.canaries.items() if not s.get("baseline")}

    def canary_metric(self, key: str) -> dict[LabelValues, float]:
        return {
            (t, name): float(m[key])
            for t, s in self.canaries.items()
            for name, m in (s.get("metrics") or {}).items()
            if m.get(key) is not None
        }

    def last_result(self) -> dict[LabelValues, float]:
        return {(what,): when for what, when in self.times.items() if what}


class MonitorGauges:
    """A snapshot of the ledger's latest monitor results, refreshed when older than ttl seconds (thread-safe)."""

    def __init__(self, ledger: Ledger, ttl: float = 30.0) -> None:
        self.ledger, self.ttl = ledger, ttl
        self._lock = threading.Lock()
        self._snapshot: MonitorSnapshot | None = None
        self._read_at = 0.0

    def snapshot(self) -> MonitorSnapshot:
        with self._lock:
            now = time.monotonic()
            if self._snapshot is None or now - self._read_at >= self.ttl:
                e = tables.events
                stmt = sa.select(e.c.time, e.c.payload).where(e.c.kind == KIND).order_by(e.c.id.desc()).limit(SCANNED)
                try:
                    self._snapshot = MonitorSnapshot(self.ledger.query("latest monitor results", stmt))
                except WardenError as exc:  # a scrape must still answer: keep the last snapshot, retry next time
                    log.warning("monitor gauges not refreshed: %s", exc)
                    return self._snapshot or MonitorSnapshot([])
                self._read_at = now
            return self._snapshot

    def series(self) -> list[tuple[str, str, tuple[str, ...], Any]]:
        """(name, help, labels, read) of each gauge, for Metrics.add_gauge."""
        s = self.snapshot
        return [
            (
                "warden_drift_p_value",
                "Holm-adjusted p-value of each test in the latest `warden monitor drift` report.",
                ("test",),
                lambda: s().drift_tests("p_adjusted"),
            ),
            (
                "warden_drift_effect",
                "Effect size of each test in the latest drift report.",
                ("test",),
                lambda: s().drift_tests("effect"),
            ),
            ("warden_drift_detected", "1 when the latest drift report found drift.", (), lambda: s().drift_detected()),
            (
                "warden_canary_regressed",
                "1 when the latest canary run of a target was significantly worse than its first run.",
                ("target",),
                lambda: s().canary_regressed(),
            ),
            (
                "warden_canary_p_value",
                "p-value of each suite metric in the latest canary run against the first run.",
                ("target", "metric"),
                lambda: s().canary_metric("p_value"),
            ),
            (
                "warden_canary_delta",
                "Change of each suite metric in the latest canary run against the first run.",
                ("target", "metric"),
                lambda: s().canary_metric("delta"),
            ),
            (
                "warden_monitor_last_result_timestamp_seconds",
                "When the latest monitor result of each kind (drift, check, canary) was written (Unix time).",
                ("what",),
                lambda: s().last_result(),
            ),
        ]
