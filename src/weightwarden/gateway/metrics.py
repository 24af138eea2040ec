"""The gateway's counters, histograms and gauges, exported with prometheus_client in the text format (0.0.4).

Every Metrics owns its CollectorRegistry, so two gateways in one process (tests, a benchmark) never mix their
series; nothing is registered in prometheus_client's global default registry. Labels never carry key ids or
names: /metrics is readable by every key.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4
from prometheus_client.registry import Collector

LabelValues = tuple[str, ...]
UpstreamReading = tuple[str, str, int, int, bool]  # model, upstream, in flight, breaker state code, up
CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4

LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)
REQUEST_LABELS = ("route", "model", "status")
UPSTREAM_LABELS = ("model", "upstream")  # a pool's public model name and one member's base URL
TOKEN_LABELS = ("model", "kind")


class ReadGauge(Collector):
    """A gauge read when scraped, by label values, from a callback (the queues own the numbers)."""

    def __init__(
        self, name: str, help: str, labels: Sequence[str], read: Callable[[], dict[LabelValues, float]]
    ) -> None:
        self.name, self.help, self.label_names, self._read = name, help, list(labels), read

    def collect(self) -> Iterator[Metric]:
        family = GaugeMetricFamily(self.name, self.help, labels=self.label_names)
        for values, value in sorted(self._read().items()):
            family.add_metric(list(values), value)
        yield family

    def describe(self) -> Iterator[Metric]:
        yield GaugeMetricFamily(self.name, self.help, labels=self.label_names)


class Metrics:
    """Every series the gateway exports, in a registry of its own."""

    def __init__(self) -> None:
        r = self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "warden_requests_total", "Requests answered, by route, model and status.", REQUEST_LABELS, registry=r
        )
        self.tokens = Counter(
            "warden_tokens_total",
            "Tokens processed, by model and kind (prompt or completion).",
            TOKEN_LABELS,
            registry=r,
        )
        self.cost = Counter(
            "warden_cost_usd_total", "Cost of the tokens processed, in USD, by model.", ("model",), registry=r
        )
        self.latency = Histogram(
            "warden_request_seconds",
            "Time from request to last byte, by route.",
            ("route",),
            registry=r,
            buckets=LATENCY_BUCKETS,
        )
        self.ttft = Histogram(
            "warden_time_to_first_token_seconds",
            "Time to the first token, by model.",
            ("model",),
            registry=r,
            buckets=LATENCY_BUCKETS,
        )
        self.rejected = Counter(
            "warden_rejected_total", "Requests refused before the model, by error code.", ("reason",), registry=r
        )
        self.guard = Counter(
            "warden_guard_triggered_total", "Guard detectors that fired.", ("side", "detector", "action"), registry=r
        )
        self.cancelled = Counter(
            "warden_generations_cancelled_total", "Generations stopped early.", ("model", "reason"), registry=r
        )
        self.audit_failures = Counter(
            "warden_audit_write_failures_total", "Audit rows the ledger failed to write.", registry=r
        )
        self.audit_dropped = Counter(
            "warden_audit_dropped_total", "Audit rows dropped because the writer fell behind.", registry=r
        )

        # Upstream pools (gateway/backends/pool.py): one series per member of each pool.
        self.upstream_requests = Counter(
            "warden_upstream_requests_total",
            "Requests a pool sent to each upstream, by outcome (ok, failed, busy, cancelled, refused).",
            (*UPSTREAM_LABELS, "outcome"),
            registry=r,
        )
        self.upstream_failures = Counter(
            "warden_upstream_failures_total",
            "Failures of each upstream (requests and health checks), by reason.",
            (*UPSTREAM_LABELS, "reason"),
            registry=r,
        )
        self.upstream_retries = Counter(
            "warden_upstream_retries_total",
            "Requests a pool sent again to another upstream before any token had gone out.",
            ("model",),
            registry=r,
        )
        self.upstream_restarts = Counter(
            "warden_upstream_restarts_total",
            "Answers a pool started again on another upstream after the first failed mid-answer.",
            ("model",),
            registry=r,
        )
        self.upstream_latency = Histogram(
            "warden_upstream_seconds",
            "Time of one request to one upstream, from sending it to its last byte.",
            UPSTREAM_LABELS,
            registry=r,
            buckets=LATENCY_BUCKETS,
        )
        self.breaker_transitions = Counter(
            "warden_upstream_breaker_transitions_total",
            "Circuit breaker transitions of each upstream, by the state entered (open, half_open, closed).",
            (*UPSTREAM_LABELS, "state"),
            registry=r,
        )
        self._upstreams: list[Callable[[], list[UpstreamReading]]] = []
        for name, help_, field in (
            ("warden_upstream_in_flight", "Requests under way at each upstream of a pool.", 0),
            ("warden_upstream_breaker_state", "Circuit breaker of each upstream: 0 closed, 1 half-open, 2 open.", 1),
            ("warden_upstream_up", "Whether the last health check (or request) of each upstream reached it.", 2),
        ):
            self.add_gauge(name, help_, UPSTREAM_LABELS, self._upstream_reader(field))

    def watch_upstreams(self, read: Callable[[], list[UpstreamReading]]) -> None:
        """Export a pool's members: read() gives (model, upstream, in flight, breaker state code, up) for each."""
        self._upstreams.append(read)

    def _upstream_reader(self, field: int) -> Callable[[], dict[LabelValues, float]]:
        def read() -> dict[LabelValues, float]:
            return {(r[0], r[1]): float(r[2 + field]) for pool in self._upstreams for r in pool()}

        return read

    def add_gauge(
        self, name: str, help: str, labels: Sequence[str], read: Callable[[], dict[LabelValues, float]]
    ) -> None:
        self.registry.register(ReadGauge(name, help, labels, read))

    def value(self, name: str, **labels: str) -> float:
        """One sample's value as a scrape would show it (0 when the series has no sample yet)."""
        return self.registry.get_sample_value(name, labels) or 0.0

    def render(self) -> str:
        return generate_latest(self.registry).decode("utf-8")
