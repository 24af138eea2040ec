"""The gateway's counters and histograms, rendered in the Prometheus text format (version 0.0.4).

Written here rather than with prometheus_client: a dozen series need no dependency, and every instance stays
private to its app (prometheus_client's default registry is global, which would mix two gateways in one process).
Labels never carry key ids or names: /metrics is readable by every key.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Sequence

LabelValues = tuple[str, ...]

LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(names: Sequence[str], values: Sequence[str], extra: str = "") -> str:
    parts = [f'{n}="{_escape(v)}"' for n, v in zip(names, values, strict=True)]
    if extra:
        parts.append(extra)
    return "{" + ",".join(parts) + "}" if parts else ""


def _number(x: float) -> str:
    if math.isinf(x):
        return "+Inf" if x > 0 else "-Inf"
    return repr(float(x)) if not float(x).is_integer() else str(int(x))


class Counter:
    """A monotonically increasing count, by label values."""

    kind = "counter"

    def __init__(self, name: str, help: str, labels: Sequence[str] = ()) -> None:
        self.name, self.help, self.label_names = name, help, tuple(labels)
        self._values: dict[LabelValues, float] = {}
        self._lock = threading.Lock()

    def inc(self, *labels: str, by: float = 1.0) -> None:
        with self._lock:
            self._values[labels] = self._values.get(labels, 0.0) + by

    def value(self, *labels: str) -> float:
        with self._lock:
            return self._values.get(labels, 0.0)

    def samples(self) -> list[str]:
        with self._lock:
            items = sorted(self._values.items())
        return [f"{self.name}{_labels(self.label_names, k)} {_number(v)}" for k, v in items]


class Gauge:
    """A value read when scraped, by label values, from a callback."""

    kind = "gauge"

    def __init__(
        self, name: str, help: str, labels: Sequence[str], read: Callable[[], dict[LabelValues, float]]
    ) -> None:
        self.name, self.help, self.label_names, self._read = name, help, tuple(labels), read

    def samples(self) -> list[str]:
        return [f"{self.name}{_labels(self.label_names, k)} {_number(v)}" for k, v in sorted(self._read().items())]


class Histogram:
    """Observations counted into cumulative buckets, with their sum and count."""

    kind = "histogram"

    def __init__(
        self, name: str, help: str, labels: Sequence[str] = (), buckets: Sequence[float] = LATENCY_BUCKETS
    ) -> None:
        self.name, self.help, self.label_names = name, help, tuple(labels)
        self.buckets = (*sorted(buckets), math.inf)
        self._counts: dict[LabelValues, list[int]] = {}
        self._sums: dict[LabelValues, float] = {}
        self._lock = threading.Lock()

    def observe(self, value: float, *labels: str) -> None:
        with self._lock:
            counts = self._counts.setdefault(labels, [0] * len(self.buckets))
            for i, bound in enumerate(self.buckets):
                if value <= bound:
                    counts[i] += 1
            self._sums[labels] = self._sums.get(labels, 0.0) + value

    def samples(self) -> list[str]:
        with self._lock:
            items = sorted((k, list(v), self._sums[k]) for k, v in self._counts.items())
        out = []
        for key, counts, total in items:
            for bound, n in zip(self.buckets, counts, strict=True):
                le = f'le="{_number(bound)}"'
                out.append(f"{self.name}_bucket{_labels(self.label_names, key, le)} {n}")
            out.append(f"{self.name}_sum{_labels(self.label_names, key)} {_number(total)}")
            out.append(f"{self.name}_count{_labels(self.label_names, key)} {counts[-1]}")
        return out


Metric = Counter | Gauge | Histogram
REQUEST_LABELS = ("route", "model", "status")
TOKEN_LABELS = ("model", "kind")


class Metrics:
    """Every series the gateway exports."""

    def __init__(self) -> None:
        c, h = Counter, Histogram
        self.requests = c("warden_requests_total", "Requests answered, by route, model and status.", REQUEST_LABELS)
        self.tokens = c(
            "warden_tokens_total", "Tokens processed, by model and kind (prompt or completion).", TOKEN_LABELS
        )
        self.cost = c("warden_cost_usd_total", "Cost of the tokens processed, in USD, by model.", ("model",))
        self.latency = h("warden_request_seconds", "Time from request to last byte, by route.", ("route",))
        self.ttft = h("warden_time_to_first_token_seconds", "Time to the first token, by model.", ("model",))
        self.rejected = c("warden_rejected_total", "Requests refused before the model, by error code.", ("reason",))
        self.guard = c("warden_guard_triggered_total", "Guard detectors that fired.", ("side", "detector", "action"))
        self.cancelled = c("warden_generations_cancelled_total", "Generations stopped early.", ("model", "reason"))
        self.audit_failures = c("warden_audit_write_failures_total", "Audit rows the ledger failed to write.")
        self.audit_dropped = c("warden_audit_dropped_total", "Audit rows dropped because the writer fell behind.")
        self._metrics: list[Metric] = [
            self.requests,
            self.tokens,
            self.cost,
            self.latency,
            self.ttft,
            self.rejected,
            self.guard,
            self.cancelled,
            self.audit_failures,
            self.audit_dropped,
        ]

    def add_gauge(
        self, name: str, help: str, labels: Sequence[str], read: Callable[[], dict[LabelValues, float]]
    ) -> None:
        self._metrics.append(Gauge(name, help, labels, read))

    def render(self) -> str:
        lines: list[str] = []
        for m in self._metrics:
            lines.append(f"# HELP {m.name} {m.help}")
            lines.append(f"# TYPE {m.name} {m.kind}")
            lines.extend(m.samples())
        return "\n".join(lines) + "\n"
