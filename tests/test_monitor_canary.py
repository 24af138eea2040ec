"""`warden monitor canary` end to end: the real gateway on a loopback port serves the default model, the canary runs
through it twice (no change, exit 0), then the route is silently pointed at a degraded copy of the model (one layer's
weights scrambled) and the next canary run flags the regression (exit 1). Everything lands in the ledger.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import httpx
import pytest

from gateway_server import Running, serve
from weightwarden.audit.context import AuditContext
from weightwarden.audit.stages.monitor import Monitor
from weightwarden.eval.degrade import layer_tensors, scramble_gguf
from weightwarden.gateway import ModelSpec
from weightwarden.ledger import Ledger
from weightwarden.runtimes import Artifact, HashCache, Runtime, resolve
from weightwarden.runtimes.llamacpp import LlamaCppRuntime

EASY = Path(__file__).parent / "data" / "compare_easy_mc.yaml"
LIMIT = "48"  # every easy item (192 scored continuations per run): fewer leave the drop short of p < 0.05
# Scrambling the last two blocks takes the default model from 31/48 to 17/48 right on the easy items, while its echo
# log-probabilities still pass the remote runtime's alignment probe (mean -1.86 nats, refused below -2): a swap the
# server cannot see, only the answers can.
LAYERS = (28, 29)


@pytest.fixture(scope="module")
def degraded(default_artifact: Artifact, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LlamaCppRuntime]:
    assert default_artifact.path is not None
    path = tmp_path_factory.mktemp("degraded") / "scrambled.gguf"
    scramble_gguf(default_artifact.path, path, [t for layer in LAYERS for t in layer_tensors(layer)], seed=0)
    rt = LlamaCppRuntime(path, n_ctx=2048, threads=int(os.environ.get("WARDEN_THREADS") or 0))  # as `llama`
    yield rt
    rt.close()


@pytest.fixture
def gw(
    tmp_path: Path, llama: LlamaCppRuntime, default_artifact: Artifact, degraded: LlamaCppRuntime
) -> Iterator[Running]:
    with serve(tmp_path, llama, default_artifact, extra=(ModelSpec("degraded", runtime=degraded),)) as g:
        yield g


def _canary(cli: Any, gw: Running, secret: str, db: str, *extra: str) -> tuple[int, dict[str, Any], str]:
    out = cli(
        "monitor", "canary", "default", "--gateway", gw.base_url, "--task", str(EASY), "--limit", LIMIT,
        "--api-key", secret, "--db", db, "--json", *extra,
    )  # fmt: skip
    assert out.code in (0, 1), out.err
    return out.code, _documents(out.out)[-1], out.out


def _documents(text: str) -> list[dict[str, Any]]:
    """The JSON objects printed one after another (one per canary run)."""
    decoder, out, pos = json.JSONDecoder(), [], 0
    while pos < len(text.rstrip()):
        doc, pos = decoder.raw_decode(text, text.index("{", pos))
        out.append(doc)
    return out


def test_canary_is_quiet_on_the_same_model_and_flags_a_silent_swap(cli: Any, gw: Running, tmp_path: Path) -> None:
    secret = gw.key(name="canary")
    db = gw.config.ledger_url  # the gateway's own ledger, so its /metrics shows the canary's verdict

    # --every repeats (--max-runs stops the loop): the first run is the baseline, the second is compared with it
    code, again, text = _canary(cli, gw, secret, db, "--every", "1s", "--max-runs", "2")
    first = _documents(text)[0]
    assert len(_documents(text)) == 2
    assert first["baseline"] is True and first["run_id"] == first["baseline_id"]
    assert code == 0 and again["baseline"] is False and again["baseline_id"] == first["run_id"]
    assert again["regressed"] is False and again["changed"] is False and again["flips"] == 0
    assert again["metrics"]["quality.acc"]["delta"] == 0.0

    # the silent swap: the public name `default` now answers with the degraded copy
    router = gw.gateway.router.backends
    router["default"] = router["degraded"]
    code, swapped, _ = _canary(cli, gw, secret, db)
    assert code == 1 and swapped["regressed"] is True and swapped["baseline_id"] == first["run_id"]
    assert "quality.acc" in swapped["regressions"]
    acc = swapped["metrics"]["quality.acc"]
    assert acc["delta"] < 0 and acc["p_value"] < 0.05 and swapped["flips"] > 0

    with Ledger(db) as ledger:
        monitor_runs = ledger.runs(kind="monitor")
        assert [r.summary["regressed"] for r in reversed(monitor_runs) if r.summary] == [False, False, True]
        assert all(r.config["target"] == f"openai:{gw.base_url}#default" for r in monitor_runs)
        eval_runs = ledger.runs(kind="eval")
        assert len(eval_runs) == 3 and all(r.config["canary"] for r in eval_runs)
        assert {r.model_hash for r in eval_runs} == {monitor_runs[0].model_hash}
        # the model's audit shows the latest canary verdict
        served = resolve(f"openai:{gw.base_url}#default", HashCache(tmp_path / "hashes.json"))
        stage = Monitor().run(AuditContext(served, cast(Runtime, None), ledger, run_id="audit"))
        assert stage.status == "fail" and "quality.acc" in stage.summary

    scraped = httpx.get(f"{gw.root}/metrics", headers={"Authorization": f"Bearer {secret}"}).text
    target = f'target="openai:{gw.base_url}#default"'
    assert f"warden_canary_regressed{{{target}}} 1.0" in scraped
    p_line = next(
        line for line in scraped.splitlines() if line.startswith("warden_canary_p_value{") and "quality.acc" in line
    )
    assert target in p_line and float(p_line.rsplit(" ", 1)[1]) == pytest.approx(acc["p_value"])


def test_a_route_name_and_a_full_reference_cannot_be_mixed(cli: Any) -> None:
    out = cli("monitor", "canary", "openai:http://127.0.0.1:9/v1#x", "--gateway", "http://127.0.0.1:9/v1")
    assert out.code == 2 and "drop --gateway" in out.err


def test_ctrl_c_stops_the_every_loop_cleanly(gw: Running, home: Path, tmp_path: Path) -> None:
    args = ["monitor", "canary", "default", "--gateway", gw.base_url, "--task", str(EASY), "--limit", "4"]
    env = {**os.environ, "WARDEN_HOME": str(home), "NO_COLOR": "1", "OPENAI_API_KEY": gw.key(name="loop")}
    # Started as a terminal starts it, with SIGINT at its default: under a shell's background job (a CI script run
    # with `&`, say) the suite's children inherit SIGINT ignored, and Python then leaves Ctrl-C ignored too.
    launcher = (
        "import runpy, signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
        "sys.argv[0] = 'warden'; runpy.run_module('weightwarden.cli.main', run_name='__main__')"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", launcher, *args, "--every", "1h", "--db", gw.config.ledger_url],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=tmp_path,
    )
    assert proc.stderr is not None
    waiting = ""
    for line in proc.stderr:  # the first run is done when it says when the next one starts
        waiting = line
        if "next canary run" in line:
            break
    assert "next canary run in 1h" in waiting
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert "stopped after 1 canary run(s)" in err and "Traceback" not in err
    assert "is the baseline" in out
