"""`warden monitor canary` end to end: the real gateway on a loopback port serves the default model, the canary runs
through it twice (no change, exit 0), then the route is silently pointed at a degraded copy of the model (one layer's
weights scrambled) and the next canary run flags the regression (exit 1). Everything lands in the ledger.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gateway_server import Running, serve
from weightwarden.eval.degrade import layer_tensors, scramble_gguf
from weightwarden.gateway import ModelSpec
from weightwarden.ledger import Ledger
from weightwarden.runtimes import Artifact
from weightwarden.runtimes.llamacpp import LlamaCppRuntime

EASY = Path(__file__).parent / "data" / "compare_easy_mc.yaml"
LIMIT = "16"  # items asked per run: 64 scored continuations, a few seconds through the gateway
LAYER = 15  # scrambling this block still passes the remote runtime's alignment probe, but answers worse


@pytest.fixture(scope="module")
def degraded(default_artifact: Artifact, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LlamaCppRuntime]:
    assert default_artifact.path is not None
    path = tmp_path_factory.mktemp("degraded") / "scrambled.gguf"
    scramble_gguf(default_artifact.path, path, layer_tensors(LAYER), seed=0)
    rt = LlamaCppRuntime(path, n_ctx=2048, threads=1)
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
    runs = [json.loads(chunk) for chunk in out.out.replace("}\n{", "}\n\x00{").split("\n\x00")]
    return out.code, runs[-1], out.out


def test_canary_is_quiet_on_the_same_model_and_flags_a_silent_swap(cli: Any, gw: Running, tmp_path: Path) -> None:
    secret = gw.key(name="canary")
    db = str(tmp_path / "canary.db")

    code, first, _ = _canary(cli, gw, secret, db)
    assert code == 0 and first["baseline"] is True and first["run_id"] == first["baseline_id"]

    # --every repeats; --max-runs stops the loop after two runs, both answered by the same model
    code, again, text = _canary(cli, gw, secret, db, "--every", "1s", "--max-runs", "2")
    assert text.count('"baseline_id"') == 2
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

    with Ledger(f"sqlite:///{db}") as ledger:
        monitor_runs = ledger.runs(kind="monitor")
        assert [r.summary["regressed"] for r in reversed(monitor_runs) if r.summary] == [False, False, False, True]
        assert all(r.config["target"] == f"openai:{gw.base_url}#default" for r in monitor_runs)
        eval_runs = ledger.runs(kind="eval")
        assert len(eval_runs) == 4 and all(r.config["canary"] for r in eval_runs)
        assert {r.model_hash for r in eval_runs} == {monitor_runs[0].model_hash}


def test_a_route_name_and_a_full_reference_cannot_be_mixed(cli: Any) -> None:
    out = cli("monitor", "canary", "openai:http://127.0.0.1:9/v1#x", "--gateway", "http://127.0.0.1:9/v1")
    assert out.code == 2 and "drop --gateway" in out.err
