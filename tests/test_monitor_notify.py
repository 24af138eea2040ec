"""Webhook alerts of `warden monitor check --webhook`: sent when rules start or stop firing, retried, not repeated."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import pytest

from weightwarden.errors import WardenError
from weightwarden.ledger import Ledger, RequestRecord
from weightwarden.ledger.records import utcnow
from weightwarden.ledger.store import new_run_id
from weightwarden.monitor.notify import post


class Hook:
    """A loopback webhook that answers the statuses queued in `answers` (then 200) and keeps what it was sent."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self.answers: list[int] = []
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["content-length"]))
                hook.received.append(json.loads(body))
                self.send_response(hook.answers.pop(0) if hook.answers else 200)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/alerts"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def hook() -> Iterator[Hook]:
    h = Hook()
    yield h
    h.close()


def test_post_retries_busy_answers_and_refuses_a_wrong_url(hook: Hook) -> None:
    hook.answers = [503, 429]
    assert post(hook.url, {"a": 1}, backoff_s=0.01) == 200
    assert hook.received == [{"a": 1}] * 3
    hook.answers = [404]
    with pytest.raises(WardenError, match="refused the alert with 404"):
        post(hook.url, {"a": 2}, backoff_s=0.01)
    hook.answers = [500] * 5
    with pytest.raises(WardenError, match="did not take the alert after 2 attempts \\(HTTP 500\\)"):
        post(hook.url, {"a": 3}, attempts=2, backoff_s=0.01)


def test_check_alerts_once_per_incident_and_when_it_resolves(hook: Hook, tmp_path: Path, cli: Any) -> None:
    db = f"sqlite:///{tmp_path / 'ledger.db'}"
    with Ledger(db) as ledger:
        now = utcnow()
        rows = [
            RequestRecord(
                request_id=new_run_id(),
                time=now - timedelta(minutes=5),
                route="/v1/chat/completions",
                status=500 if i % 5 == 0 else 200,
                model="default",
            )
            for i in range(50)
        ]
        ledger.add_requests(lambda: rows).result()
    rules = tmp_path / "alerts.yaml"
    rules.write_text("rules:\n  - {name: server errors, metric: error_rate, above: 0.1}\n")
    first = cli("monitor", "check", "--rules", str(rules), "--webhook", hook.url, "--db", db)
    assert first.code == 1, first.err
    assert len(hook.received) == 1
    sent = hook.received[0]
    assert sent["status"] == "firing" and sent["firing"] == ["server errors"]
    assert sent["started"][0]["value"] == pytest.approx(0.2) and sent["resolved"] == []
    again = cli("monitor", "check", "--rules", str(rules), "--webhook", hook.url, "--db", db)
    assert again.code == 1 and len(hook.received) == 1  # still firing: no second alert
    rules.write_text("rules:\n  - {name: server errors, metric: error_rate, above: 0.5}\n")
    calm = cli("monitor", "check", "--rules", str(rules), "--webhook", hook.url, "--db", db)
    assert calm.code == 0, calm.err
    assert len(hook.received) == 2
    assert hook.received[1]["status"] == "resolved" and hook.received[1]["resolved"] == ["server errors"]
