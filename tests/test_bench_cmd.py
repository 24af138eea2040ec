"""`warden bench`: the real default model on llama.cpp against the same model served by a real `warden serve`
process on loopback (standing in for a cloud endpoint); its table, ledger run and report; its errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from openai_peer import free_port
from weightwarden.bench import Workload, parse_backend, parse_prices
from weightwarden.bench.energy import EnergyMeter, cost_per_million, rapl_zones
from weightwarden.bench.latency import percentile
from weightwarden.errors import ConfigError
from weightwarden.ledger import Ledger

ADMIN = "ww-bench-test-admin-secret"
SMALL = ["--clients", "2", "--items", "2", "--prompts", "2", "--max-tokens", "8"]
COST_KINDS = {"measured-energy", "price-per-hour", "assumed-power", "unknown"}


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """A real `warden serve default` process (no guard, no sketches) and a user key it accepts: (base URL, key)."""
    home = tmp_path_factory.mktemp("serve-home")
    policy = home / "policy.yaml"
    policy.write_text("input: {}\noutput: {}\nsketches: false\n")
    port = free_port()
    env = {**os.environ, "WARDEN_HOME": str(home), "WARDEN_ADMIN_KEY": ADMIN}
    args = ["serve", "default", "--port", str(port), "--no-embedder", "--quiet", "--policy", str(policy)]
    proc = subprocess.Popen(
        [sys.executable, "-m", "weightwarden.cli.main", *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=env,
    )
    root = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 120
        while True:
            try:
                if httpx.get(f"{root}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.time() < deadline and proc.poll() is None, "warden serve did not come up"
            time.sleep(0.2)
        made = httpx.post(f"{root}/admin/keys", headers={"Authorization": f"Bearer {ADMIN}"}, json={"name": "bench"})
        yield f"{root}/v1", made.json()["key"]
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@pytest.mark.slow
def test_local_against_served_endpoint(
    served: tuple[str, str], cli, home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    url, key = served
    monkeypatch.setenv("OPENAI_API_KEY", key)
    remote = f"openai:{url}#default"
    out = tmp_path / "report"
    result = cli("bench", "default", remote, *SMALL, "--json", "--out", str(out))
    assert result.code == 0, result.err
    data = json.loads(result.out)
    rows = data["rows"]
    assert [r["backend"] for r in rows] == ["default", remote]
    assert [r["runtime"] for r in rows] == ["llama.cpp", "remote"]
    for r in rows:
        assert r["tok_s_1"] > 0 and r["tok_s_n"] > 0
        assert r["clients"] == 2
        assert r["ttft_p50_ms_1"] <= r["ttft_p99_ms_1"]
        assert r["ttft_p50_ms_n"] <= r["ttft_p99_ms_n"]
        assert r["cost_kind"] in COST_KINDS and r["cost_source"]
        assert r["cost_kind"] != "unknown" and r["usd_per_1m"] > 0  # loopback: the server runs on this machine
        assert r["quality_n"] == 6  # 2 items of each of the 3 eval tasks, the same for both
    assert rows[0]["concurrency"] == "one runtime, FIFO queue" and rows[1]["concurrency"] == "concurrent HTTP streams"
    # The same model on both sides: identical item scores, so the paired test finds nothing.
    assert rows[1]["quality"] == rows[0]["quality"]
    assert rows[1]["quality_delta"] == 0 and rows[1]["quality_p"] == 1 and rows[1]["quality_test"] == "mcnemar"

    with Ledger(f"sqlite:///{home / 'ledger.db'}") as ledger:
        run = ledger.run(data["run_id"])
        assert run is not None and run.kind == "bench" and run.status == "ok"
        items = ledger.items(run.id)
        assert [it.input["backend"] for it in items] == ["default", remote]
        for it in items:
            assert [p["clients"] for p in it.output["phases"]] == [1, 2]
            assert [p["requests"] for p in it.output["phases"]] == [2, 4]  # each client sends every prompt
            eval_run = ledger.run(it.output["eval_run"])
            assert eval_run is not None and eval_run.kind == "eval" and len(ledger.items(eval_run.id)) == 6
    html = Path(data["report"]["html"]).read_text()
    assert "<svg" in html and remote in html

    again = cli("report", data["run_id"], "--format", "md", "--format", "html", "--out", str(tmp_path / "again"))
    assert again.code == 0, again.err
    md = (tmp_path / "again" / "report.md").read_text()
    assert f"# Bench {data['run_id']}" in md and "| default | llama.cpp |" in md and remote in md
    assert (tmp_path / "again" / "report.html").read_text() == html  # rendered from the ledger alone


@pytest.mark.slow
def test_bad_backend_and_unreachable_endpoint(cli) -> None:  # type: ignore[no-untyped-def]
    bad = cli("bench", "default", "no-such-model.gguf", *SMALL)
    assert bad.code == 2 and "no such file or directory" in bad.err and "Traceback" not in bad.err
    assert "loading" not in bad.err, "every backend is resolved before any is run"
    scheme = cli("bench", "vllm:http://127.0.0.1:1/v1#m", *SMALL)
    assert scheme.code == 2 and "unknown model scheme" in scheme.err
    dead = f"openai:http://127.0.0.1:{free_port()}/v1#default"
    down = cli("bench", "default", dead, *SMALL)
    assert down.code == 2 and "cannot reach" in down.err and "Traceback" not in down.err
    assert "loading" not in down.err, "a dead endpoint fails before the local backend is measured"


def test_backend_names_and_prices() -> None:
    assert parse_backend("default").runtime == "auto"
    tf = parse_backend("transformers:default")
    assert (tf.ref, tf.runtime, tf.label) == ("default", "transformers", "transformers:default")
    assert parse_backend("openai:http://h:1/v1#m").remote
    with pytest.raises(ConfigError):
        parse_backend("llama.cpp:")
    assert parse_prices(["1.5", "2=0.25", "openai:http://h:1/v1#m=3"]) == {
        "*": 1.5,
        "2": 0.25,
        "openai:http://h:1/v1#m": 3.0,
    }
    with pytest.raises(ConfigError, match="BACKEND=USD"):
        parse_prices(["cheap"])
    with pytest.raises(ConfigError, match="--clients"):
        Workload(("hi",), clients=0)
    w = Workload.bundled(3, clients=4)
    assert len(w.prompts) == 3 and w.concurrency == (1, 4) and w.prompts == Workload.bundled(3).prompts


def test_percentile_and_cost_sources() -> None:
    assert percentile([5.0, 1.0, 3.0], 0.5) == 3.0 and percentile([5.0, 1.0, 3.0], 0.99) == 5.0
    common = {"tokens": 1000, "wall_s": 10.0, "usd_per_kwh": 0.3, "power_watts": 15.0, "energy_source": "RAPL"}
    priced = cost_per_million(**common, joules=500.0, price_per_hour=3.6, runs_here=True)
    assert priced.kind == "price-per-hour" and priced.usd_per_million == pytest.approx(0.01 * 1000)
    measured = cost_per_million(**common, joules=3.6e6, price_per_hour=None, runs_here=True)
    assert measured.kind == "measured-energy" and measured.usd_per_million == pytest.approx(0.3 / 1000 * 1e6)
    assumed = cost_per_million(**common, joules=None, price_per_hour=None, runs_here=True)
    assert assumed.kind == "assumed-power" and "15 W" in assumed.source
    remote = cost_per_million(**common, joules=500.0, price_per_hour=None, runs_here=False)
    assert remote.kind == "unknown" and remote.usd_per_million is None


def test_rapl_counters_from_sysfs_files(tmp_path: Path) -> None:
    """A powercap tree as the kernel lays it out: package zones counted, sub-zones skipped, wraparound handled."""
    assert rapl_zones(tmp_path / "missing")[0] == []
    for name, energy in (("intel-rapl:0", 900), ("intel-rapl:0:0", 50), ("intel-rapl:1", 10)):
        zone = tmp_path / name
        zone.mkdir()
        (zone / "energy_uj").write_text(f"{energy}\n")
        (zone / "max_energy_range_uj").write_text("1000\n")
    meter = EnergyMeter(tmp_path, gpu=False)
    assert meter.available and meter.describe() == "RAPL (2 CPU package(s))"
    meter.start()
    (tmp_path / "intel-rapl:0" / "energy_uj").write_text("100\n")  # wrapped past 1000: 200 uJ used
    (tmp_path / "intel-rapl:1" / "energy_uj").write_text("40\n")  # 30 uJ
    assert meter.stop() == pytest.approx(230e-6)


@pytest.mark.slow
def test_transformers_streams_token_by_token(hf_gguf) -> None:  # type: ignore[no-untyped-def]
    """The bench's TTFT for transformers is a first token, not a whole answer: its stream grows token by token and
    joins into exactly what chat() returns, with the same counts and finish reason."""
    from weightwarden.runtimes import GenerationParams, Message

    for max_tokens in (12, 96):  # cut by the length, and (most likely) ended by the model
        messages, params = [Message("user", "Name three rivers.")], GenerationParams(max_tokens=max_tokens)
        whole = hf_gguf.chat(messages, params)
        chunks = list(hf_gguf.chat_stream(messages, params))
        assert "".join(c.text for c in chunks) == whole.text
        assert len([c for c in chunks if c.text]) > 1
        last = chunks[-1]
        assert (last.finish_reason, last.completion_tokens) == (whole.finish_reason, whole.completion_tokens)
