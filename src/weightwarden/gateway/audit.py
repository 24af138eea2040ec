"""One audit row per request, written through the ledger's one writer without ever making a request wait.

An Exchange collects what happens to a request as it goes (key, model, status, tokens, times, cost, guard
verdicts); AuditLog.finish turns it into a RequestRecord, adds it to a buffer and updates the metrics. One write job
at a time takes the whole buffer when the writer reaches it, so under a flood (thousands of refused requests a
second) the rows go in one transaction per batch, not one per row. A failed write is logged and counted; when the
writer falls behind by max_pending rows, new rows are dropped (and counted) rather than let memory grow without
bound.
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from time import perf_counter
from typing import Any

from weightwarden.gateway.auth import Caller
from weightwarden.gateway.errors import GatewayError
from weightwarden.gateway.metrics import Metrics
from weightwarden.ledger import Ledger, RequestRecord
from weightwarden.ledger.records import utcnow
from weightwarden.ledger.store import new_run_id
from weightwarden.monitor.worker import SketchWorker

log = logging.getLogger("weightwarden.gateway")


@dataclass
class Exchange:
    """One request on its way through the gateway; status 499 means the client went away first."""

    route: str
    request_id: str = field(default_factory=new_run_id)
    time: datetime = field(default_factory=utcnow)
    t0: float = field(default_factory=perf_counter)
    caller: Caller | None = None
    model: str | None = None
    model_hash: str | None = None
    status: int = 200
    error: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    ttft_ms: float | None = None
    cost_usd: float = 0.0
    verdicts: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    prompt_text: str | None = None
    response_text: str | None = None
    watermark: str | None = None  # the watermark key's fingerprint, when the answer is being marked
    client_gone: bool = False
    client: tuple[str, int] | None = None  # host and port of the connection, to count clients waiting for a turn
    done: bool = False

    def first_token(self) -> None:
        if self.ttft_ms is None:
            self.ttft_ms = (perf_counter() - self.t0) * 1000

    def fail(self, err: GatewayError) -> None:
        self.status, self.error = err.status, err.code

    def record(self, store_text: bool) -> RequestRecord:
        return RequestRecord(
            request_id=self.request_id,
            time=self.time,
            route=self.route,
            status=self.status,
            key_id=self.caller.key_id if self.caller else None,
            model_hash=self.model_hash,
            model=self.model,
            error=self.error,
            prompt_tokens=self.prompt_tokens,
            completion_tokens=self.completion_tokens,
            ttft_ms=self.ttft_ms,
            total_ms=(perf_counter() - self.t0) * 1000,
            cost_usd=self.cost_usd,
            verdicts=self.verdicts,
            prompt_text=self.prompt_text if store_text else None,
            response_text=self.response_text if store_text else None,
            watermark=self.watermark,
        )


class AuditLog:
    """Writes finished exchanges to the ledger (in batches) and the metrics."""

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

    def finish(self, ex: Exchange) -> None:
        """Record an exchange once; later calls for the same exchange do nothing."""
        if ex.done:
            return
        ex.done = True
        self._count(ex)
        record = ex.record(self.store_text)
        if self.sketches is not None:
            self.sketches.submit(record, ex.prompt_text, ex.response_text)
        with self._lock:
            if self._pending >= self.max_pending:
                self.metrics.audit_dropped.inc()
                log.warning("audit row %s dropped: %d rows wait for the ledger writer", ex.request_id, self._pending)
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
            self.metrics.audit_failures.inc(by=rows - written)
            log.error("%d of %d audit rows could not be written: %s", rows - written, rows, exc or "see the ledger")

    def _written_failed(self, rows: list[RequestRecord], exc: BaseException) -> None:
        with self._lock:
            self._pending -= len(rows)
        self.metrics.audit_failures.inc(by=len(rows))
        log.error("%d audit rows could not be queued: %s", len(rows), exc)

    def _count(self, ex: Exchange) -> None:
        m = self.metrics
        model = ex.model or ""
        m.requests.inc(ex.route, model, str(ex.status))
        m.latency.observe(perf_counter() - ex.t0, ex.route)
        if ex.prompt_tokens:
            m.tokens.inc(model, "prompt", by=ex.prompt_tokens)
        if ex.completion_tokens:
            m.tokens.inc(model, "completion", by=ex.completion_tokens)
        if ex.cost_usd:
            m.cost.inc(model, by=ex.cost_usd)
        if ex.ttft_ms is not None:
            m.ttft.observe(ex.ttft_ms / 1000, model)
        if ex.error and ex.status in (401, 403, 413, 429):
            m.rejected.inc(ex.error)
        for side, verdicts in ex.verdicts.items():
            for v in verdicts:
                if v.get("label") not in (None, "clean"):
                    m.guard.inc(side, str(v.get("detector")), str(v.get("action")))
        if ex.status == 499:
            m.cancelled.inc(model, "disconnect")
        elif ex.status == 504:
            m.cancelled.inc(model, "timeout")

    def forget_old_text(self, retention_days: float) -> int:
        """Blank stored prompt and answer text older than the retention period; return how many rows changed."""
        return self.ledger.forget_request_text(utcnow() - timedelta(days=retention_days))
