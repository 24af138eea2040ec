"""The performance suite on the default model: speed figures with intervals, and cost per million tokens that follows
the price settings (an hourly rent, or power at an electricity price)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from weightwarden.config import load_settings
from weightwarden.eval.performance import TASK_ID, performance
from weightwarden.runtimes.llamacpp import LlamaCppRuntime


def test_performance_metrics_and_cost(llama: LlamaCppRuntime, tmp_path: Path) -> None:
    rented = load_settings(env={"WARDEN_HOME": str(tmp_path), "WARDEN_USD_PER_HOUR": "3.6"})
    assert rented.usd_per_second == pytest.approx(0.001)
    result = performance(llama, rented, repeats=2)
    assert result.task_id == TASK_ID and result.n == 2
    m = result.metrics
    assert set(m) == {
        "ttft_ms",
        "prompt_tokens_per_s",
        "generation_tokens_per_s",
        "peak_rss_mb",
        "usd_per_million_tokens",
    }
    for metric in m.values():
        assert metric.low <= metric.value <= metric.high
    gen = m["generation_tokens_per_s"]
    assert gen.value > 1 and m["ttft_ms"].value > 0 and m["peak_rss_mb"].value > 50
    # cost = 0.001 USD/s / tokens per second * 1e6, averaged over the repeats: inside what the speeds allow
    cost = m["usd_per_million_tokens"]
    assert 1000 / gen.high - 1e-6 <= cost.value <= 1000 / gen.low + 1e-6
    assert result.extra["price"] == {"usd_per_hour": 3.6}
    powered = load_settings(env={"WARDEN_HOME": str(tmp_path), "WARDEN_POWER_WATTS": "30", "WARDEN_USD_PER_KWH": "0.5"})
    assert powered.usd_per_second == pytest.approx(30 / 1000 * 0.5 / 3600)


@pytest.mark.slow
def test_cli_performance_suite(cli, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("WARDEN_THREADS", "1")
    r = cli("eval", "default", "--suite", "performance", "--json")
    assert r.code == 0, r.err
    out = json.loads(r.out)
    (perf,) = out["tasks"]
    assert perf["task"] == TASK_ID and perf["metrics"]["usd_per_million_tokens"]["value"] > 0
