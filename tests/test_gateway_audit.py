"""Audit rows: queued through the ledger's one writer without blocking a request, failures counted, text kept only
when the policy says so and only for its retention period."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from gateway_server import NO_GUARD, policy, serve
from weightwarden.errors import LedgerError
from weightwarden.gateway.audit_log import AuditLog
from weightwarden.gateway.auth import Caller
from weightwarden.gateway.metrics import Metrics
from weightwarden.gateway.request import Outcome, RequestContext, Usage
from weightwarden.ledger import Ledger, RequestRecord
from weightwarden.runtimes import Artifact
from weightwarden.runtimes.llamacpp import LlamaCppRuntime


def exchange(n: int, request_id: str | None = None) -> tuple[RequestContext, Outcome]:
    """A finished request that used 10 prompt tokens and n completion tokens."""
    caller = Caller("key_a", "a", False)
    ctx = RequestContext(route="/v1/chat/completions", caller=caller)
    if request_id is not None:
        ctx = RequestContext(route=ctx.route, caller=caller, request_id=request_id)
    outcome = Outcome(model="default", usage=Usage(10, n), prompt_text="secret prompt", response_text="secret answer")
    return ctx, outcome


def test_a_burst_of_rows_never_waits_for_a_busy_writer(tmp_path: Path) -> None:
    with Ledger(f"sqlite:///{tmp_path / 'ledger.db'}") as ledger:
        gate, written = threading.Event(), threading.Event()

        def slow_write(conn: object) -> None:  # the writer is stuck on a slow write until the gate opens
            gate.wait(30)
            written.set()

        ledger._writer.submit_nowait(slow_write)
        audit = AuditLog(ledger, Metrics(), store_text=False)
        for n in range(200):
            audit.finish(*exchange(n))
        # every row was handed over while the slow write was still stuck: finish() never waited for the writer
        still_stuck = not written.is_set()
        gate.set()
        ledger.flush()
        rows = ledger.requests(limit=1000)
    assert still_stuck and len(rows) == 200
    assert all(r.prompt_text is None and r.response_text is None for r in rows), "store_text is off"


def test_rows_that_arrive_while_the_writer_is_busy_go_in_one_transaction(tmp_path: Path) -> None:
    """Under a flood the ledger commits a batch, not a row: 200 rows behind a slow write make one write job."""
    with Ledger(f"sqlite:///{tmp_path / 'ledger.db'}") as ledger:
        gate = threading.Event()
        ledger._writer.submit_nowait(lambda conn: gate.wait(30))
        jobs: list[int] = []
        real = ledger.add_requests

        def counted(take: Callable[[], Sequence[RequestRecord]]) -> Future[int]:
            future = real(take)
            future.add_done_callback(lambda f: jobs.append(f.result()))
            return future

        ledger.add_requests = counted  # type: ignore[method-assign]
        audit = AuditLog(ledger, Metrics(), store_text=False)
        for n in range(200):
            audit.finish(*exchange(n))
        gate.set()
        ledger.flush()
        audit.finish(*exchange(200))  # the writer is free again: the next row goes at once, in a job of its own
        ledger.flush()
        assert jobs == [200, 1] and len(ledger.requests(limit=1000)) == 201


def test_one_bad_row_does_not_cost_the_rest_of_its_batch(tmp_path: Path) -> None:
    metrics = Metrics()
    with Ledger(f"sqlite:///{tmp_path / 'ledger.db'}") as ledger:
        gate = threading.Event()
        ledger._writer.submit_nowait(lambda conn: gate.wait(30))
        audit = AuditLog(ledger, metrics, store_text=False)
        first = exchange(1)
        twin = exchange(2, request_id=first[0].request_id)  # the database refuses a second row with the same id
        for ctx, outcome in (first, exchange(3), twin, exchange(4)):
            audit.finish(ctx, outcome)
        gate.set()
        ledger.flush()
        rows = ledger.requests(limit=100)
    assert len(rows) == 3 and metrics.value("warden_audit_write_failures_total") == 1


def test_text_is_stored_only_when_the_policy_says_so() -> None:
    ctx, outcome = exchange(1)
    assert outcome.record(ctx, store_text=True).prompt_text == "secret prompt"
    record = outcome.record(ctx, store_text=False)
    assert (record.prompt_text, record.response_text) == (None, None) and record.completion_tokens == 1


class FailingLedger:
    """A ledger whose writes fail, as a full disk would make them."""

    def __init__(self) -> None:
        self.calls = 0

    def add_requests(self, take: Callable[[], Sequence[RequestRecord]]) -> Future[int]:
        self.calls += 1
        take()
        future: Future[int] = Future()
        future.set_exception(LedgerError("could not add request: disk I/O error"))
        return future


def test_failed_and_dropped_rows_are_logged_and_counted(caplog: pytest.LogCaptureFixture) -> None:
    metrics = Metrics()
    ledger = FailingLedger()
    audit = AuditLog(ledger, metrics, store_text=False)  # type: ignore[arg-type]
    audit.finish(*exchange(1))
    assert ledger.calls == 1 and metrics.value("warden_audit_write_failures_total") == 1
    assert "disk I/O error" in caplog.text
    behind = AuditLog(ledger, metrics, store_text=False, max_pending=0)  # type: ignore[arg-type]
    behind.finish(*exchange(2))
    assert ledger.calls == 1 and metrics.value("warden_audit_dropped_total") == 1
    samples = scrape(metrics.render())
    assert samples[("warden_audit_write_failures_total", ())] == 1 and samples[("warden_audit_dropped_total", ())] == 1
    chat = (("model", "default"), ("route", "/v1/chat/completions"), ("status", "200"))
    assert samples[("warden_requests_total", chat)] == 2
    assert samples[("warden_tokens_total", (("kind", "completion"), ("model", "default")))] == 3


def scrape(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a Prometheus text exposition, read with prometheus_client's own parser."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_stored_text_is_blanked_after_the_retention_period(
    tmp_path: Path, llama: LlamaCppRuntime, default_artifact: Artifact
) -> None:
    serving = policy(store_text=True, retention_days=1 / 86400, **NO_GUARD)  # one second
    with serve(tmp_path, llama, default_artifact, serving=serving, retention_check_seconds=0.5) as gw:
        # hold the blanking until the stored text has been read: on a slow machine the request and the read can
        # take longer than the one-second retention period itself
        audit, go = gw.gateway.audit, threading.Event()
        forget = audit.forget_old_text
        audit.forget_old_text = lambda days: forget(days) if go.is_set() else 0  # type: ignore[method-assign]
        body = {"model": "default", "prompt": "Hello", "max_tokens": 2, "temperature": 0}
        assert (
            httpx.post(
                f"{gw.base_url}/completions", json=body, headers={"Authorization": f"Bearer {gw.key()}"}, timeout=120
            ).status_code
            == 200
        )
        row = gw.rows(route="/v1/completions")[0]
        assert row.prompt_text == "Hello" and row.response_text
        go.set()
        deadline = time.time() + 30
        while gw.ledger.requests(route="/v1/completions")[0].prompt_text is not None and time.time() < deadline:
            time.sleep(0.2)
        kept = gw.ledger.requests(route="/v1/completions")[0]
    assert (kept.prompt_text, kept.response_text) == (None, None)
    assert (kept.request_id, kept.completion_tokens) == (row.request_id, row.completion_tokens), "the row stays"
