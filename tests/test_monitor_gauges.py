"""The monitor inside the gateway: /metrics shows the latest drift report from its ledger (p-values, effects, the
verdict), and `warden serve --alert-rules` checks the rules while serving and posts each change once."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import openai
import pytest
from prometheus_client.parser import text_string_to_metric_families

from gateway_server import serve
from test_monitor_notify import Hook
from weightwarden.errors import ConfigError
from weightwarden.ledger.records import EventRecord
from weightwarden.monitor.record import record_result
from weightwarden.monitor.window import Window
from weightwarden.runtimes import Artifact
from weightwarden.runtimes.llamacpp import LlamaCppRuntime


def _drift(p_mmd: float, drifted: bool) -> dict[str, object]:
    """A drift summary in the shape `warden monitor drift` records."""
    return {
        "drifted": drifted,
        "min_p_adjusted": p_mmd,
        "tests": {"mmd": {"p_adjusted": p_mmd, "effect": 0.31}, "prompt_tokens": {"p_adjusted": 0.8, "effect": 0.02}},
    }


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_metrics_show_the_latest_drift_report(tmp_path: Path) -> None:
    now = datetime.now(UTC)
    window = Window(now - timedelta(days=7), now, "7d")
    with serve(tmp_path, None) as gw:
        secret = gw.key(name="scraper")

        def scrape() -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
            r = httpx.get(f"{gw.root}/metrics", headers={"Authorization": f"Bearer {secret}"})
            assert r.status_code == 200
            return _samples(r.text)

        before = scrape()
        assert not any(name.startswith("warden_drift") for name, _ in before)

        record_result(gw.ledger, "drift", {"model": None}, _drift(0.5, False), window, None)
        record_result(gw.ledger, "drift", {"model": None}, _drift(0.001, True), window, None)
        gw.gateway.monitor.ttl = 0.0  # read the ledger on this scrape (30 s between reads otherwise)
        after = scrape()
        assert after[("warden_drift_p_value", (("test", "mmd"),))] == 0.001  # the newest report, not the first
        assert after[("warden_drift_p_value", (("test", "prompt_tokens"),))] == 0.8
        assert after[("warden_drift_effect", (("test", "mmd"),))] == 0.31
        assert after[("warden_drift_detected", ())] == 1.0
        written = after[("warden_monitor_last_result_timestamp_seconds", (("what", "drift"),))]
        assert abs(written - now.timestamp()) < 60

        gw.gateway.monitor.ttl = 3600.0  # a cached snapshot: a newer report waits for the next read
        record_result(gw.ledger, "drift", {"model": None}, _drift(0.9, False), window, None)
        assert scrape()[("warden_drift_detected", ())] == 1.0
        gw.gateway.monitor.ttl = 0.0
        assert scrape()[("warden_drift_detected", ())] == 0.0


def test_serve_checks_alert_rules_and_posts_each_change_once(
    tmp_path: Path, llama: LlamaCppRuntime, default_artifact: Artifact
) -> None:
    rules = tmp_path / "alerts.yaml"
    rules.write_text("rules:\n  - {name: any traffic, metric: requests, window: 1h, above: 0}\n")
    hook = Hook()
    try:
        settings = {"alert_rules": rules, "alert_webhook": hook.url, "alert_check_seconds": 0.2}
        with serve(tmp_path, llama, default_artifact, **settings) as gw:

            def checks() -> list[EventRecord]:
                return [e for e in gw.ledger.events() if e.kind == "monitor" and e.payload["what"] == "check"]

            def wait_for(done: Callable[[], bool]) -> None:
                deadline = time.time() + 30
                while not done() and time.time() < deadline:
                    time.sleep(0.05)

            wait_for(lambda: len(checks()) >= 1)  # a first check, with no traffic yet, before the request
            client = openai.OpenAI(base_url=gw.base_url, api_key=gw.key(name="user"), max_retries=0)
            client.completions.create(model="default", prompt="Hello", max_tokens=1, temperature=0)
            wait_for(lambda: bool(hook.received))
            # More checks while the rule still fires (nothing more may be sent), counted rather than a fixed sleep:
            # on a loaded machine one check took 1.3 s, not 0.2.
            seen = len(checks())
            wait_for(lambda: len(checks()) >= seen + 2)
            recorded = checks()
    finally:
        hook.close()
    assert len(hook.received) == 1
    sent = hook.received[0]
    assert sent["status"] == "firing" and sent["firing"] == ["any traffic"]
    assert len(recorded) >= 3 and recorded[0].payload["summary"]["firing"] == ["any traffic"]
    assert recorded[-1].payload["summary"]["firing"] == []  # the first check ran before the request


def test_serve_refuses_a_broken_rules_file(tmp_path: Path) -> None:
    rules = tmp_path / "alerts.yaml"
    rules.write_text("rules:\n  - {name: x, metric: no_such_metric, above: 1}\n")
    with pytest.raises(ConfigError, match="no_such_metric"), serve(tmp_path, None, alert_rules=rules):
        pass
