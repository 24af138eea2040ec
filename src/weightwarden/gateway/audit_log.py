"""One audit row per request, written through the ledger's one writer without ever making a request wait.

AuditLog.finish takes a finished request (its RequestContext and Outcome), counts it in the metrics and turns it
into a RequestRecord; AuditLog.write is the one place a completed request's record is handed to the ledger writer.
One write job at a time takes the whole buffer when the writer reaches it, so under a flood (thousands of refused
requests a second) the rows go in one transaction per batch, not one per row. A failed write is logged and
counted; when the writer falls behind by max_pending rows, new rows are dropped (and counted) rather than let
memory grow without bound.
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import Future
from datetime import timedelta

from weightwarden.gateway.metrics import Metrics
from weightwarden.gateway.request import Outcome, RequestContext
from weightwarden.ledger import Ledger, RequestRecord
from weightwarden.ledger.records import utcnow
from weightwarden.monitor.worker import SketchWorker

log = logging.getLogger("weightwarden.gateway")


class AuditLog:
    """Writes finished requests to the ledger (in batches) and the metrics."""

    def __init__(
        self,
        ledger: Ledger,
        metrics: Metrics,
        *,
        store_text: bool,
        max_pending: int = 10_000,
        sketches: SketchWorker | None = None,
    ) -> None:
        self.ledger, self.metrics, self.store_text, self.max_pending = ledger, metrics, store_text, max_pending
        self.sketches = sketches  # makes a text-free sketch of each request, off the request path
        self._pending = 0  # rows buffered or being written
        self._buffer: list[RequestRecord] = []
        self._scheduled = False  # a write job is queued that has not yet taken the buffer
        self._lock = threading.Lock()

    def finish(self, ctx: RequestContext, outcome: Outcome) -> None:
        """Count a finished request in the metrics and write its audit row (call once per request)."""
        self._count(ctx, outcome)
        self.write(outcome.record(ctx, store_text=self.store_text), outcome.prompt_text, outcome.response_text)

    def write(self, record: RequestRecord, prompt_text: str | None = None, response_text: str | None = None) -> None:
        """Hand one completed request's record to the ledger writer, without waiting for it.

        Every completed request passes here exactly once, refused ones included; the texts go only to the traffic
        sketch (made off the request path), never to the row unless the policy stores text.
        """
        if self.sketches is not None:
            self.sketches.submit(record, prompt_text, response_text)
        with self._lock:
            if self._pending >= self.max_pending:
                self.metrics.audit_dropped.inc()
                log.warning(
                    "audit row %s dropped: %d rows wait for the ledger writer", record.request_id, self._pending
                )
                return
            self._pending += 1
            self._buffer.append(record)
            if self._scheduled:
                return  # the queued job will take this row too
            self._scheduled = True
        taken = [0]

        def take() -> list[RequestRecord]:
            with self._lock:
                rows, self._buffer, self._scheduled = self._buffer, [], False
            taken[0] = len(rows)
            return rows

        try:
            self.ledger.add_requests(take).add_done_callback(lambda f: self._written(f, taken[0]))
        except Exception as exc:  # a closed ledger at shutdown, say: the requests themselves have been answered
            self._written_failed(take(), exc)

    def _written(self, future: Future[int], rows: int) -> None:
        with self._lock:
            self._pending -= rows
        exc = future.exception()
        written = 0 if exc is not None else future.result()
        if written < rows:
            self.metrics.audit_failures.inc(rows - written)
            log.error("%d of %d audit rows could not be written: %s", rows - written, rows, exc or "see the ledger")

    def _written_failed(self, rows: list[RequestRecord], exc: BaseException) -> None:
        with self._lock:
            self._pending -= len(rows)
        self.metrics.audit_failures.inc(len(rows))
        log.error("%d audit rows could not be queued: %s", len(rows), exc)

    def _count(self, ctx: RequestContext, outcome: Outcome) -> None:
        m = self.metrics
        model = outcome.model or ""
        m.requests.labels(ctx.route, model, str(outcome.status)).inc()
        m.latency.labels(ctx.route).observe(ctx.elapsed())
        if outcome.usage.prompt_tokens:
            m.tokens.labels(model, "prompt").inc(outcome.usage.prompt_tokens)
        if outcome.usage.completion_tokens:
            m.tokens.labels(model, "completion").inc(outcome.usage.completion_tokens)
        if outcome.cost_usd:
            m.cost.labels(model).inc(outcome.cost_usd)
        if outcome.ttft_ms is not None:
            m.ttft.labels(model).observe(outcome.ttft_ms / 1000)
        if outcome.error and outcome.status in (401, 403, 413, 429):
            m.rejected.labels(outcome.error).inc()
        for side, verdicts in outcome.verdicts.items():
            for v in verdicts:
                if v.get("label") not in (None, "clean"):
                    m.guard.labels(side, str(v.get("detector")), str(v.get("action"))).inc()
        if outcome.status == 499:
            m.cancelled.labels(model, "disconnect").inc()
        elif outcome.status == 504:
            m.cancelled.labels(model, "timeout").inc()

    def forget_old_text(self, retention_days: float) -> int:
        """Blank stored prompt and answer text older than the retention period; return how many rows changed."""
        return self.ledger.forget_request_text(utcnow() - timedelta(days=retention_days))
