"""The gateway's /metrics shows the latest drift report from its ledger: p-values, effects and the verdict."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from gateway_server import serve
from weightwarden.monitor.record import record_result
from weightwarden.monitor.window import Window


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
