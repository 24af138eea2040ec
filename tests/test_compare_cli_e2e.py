"""`warden eval` then `warden compare`, as a user runs them in CI: the same model again passes the gate, a copy with
one layer scrambled fails it (exit 1), and the flipped items are listed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from weightwarden.eval.degrade import layer_tensors, scramble_gguf
from weightwarden.runtimes import Artifact

TASK = Path(__file__).parent / "data" / "compare_easy_mc.yaml"


def _eval(cli, model: str) -> str:  # type: ignore[no-untyped-def]
    r = cli("eval", model, "--task", str(TASK), "--fresh", "--json")
    assert r.code == 0, r.err
    out = json.loads(r.out)
    assert out["tasks"][0]["n"] == 48
    return str(out["run_id"])


@pytest.mark.slow
def test_eval_then_compare_gates_both_ways(  # type: ignore[no-untyped-def]
    cli, default_artifact: Artifact, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WARDEN_THREADS", "1")
    assert default_artifact.path is not None
    broken = tmp_path / "scrambled.gguf"
    scramble_gguf(default_artifact.path, broken, layer_tensors(1), seed=0)
    base = _eval(cli, "default")
    again = _eval(cli, "default")  # a second run of the same model (answers come from the ledger's cache)
    worse = _eval(cli, str(broken))
    gate = ["--gate", "quality.acc:max_drop=0.05"]
    same = cli("compare", "default", "default", "--run-base", base, "--run-candidate", again, *gate, "--json")
    assert same.code == 0, same.err + same.out
    bad = cli("compare", "default", str(broken), "--run-base", base, "--run-candidate", worse, *gate, "--json")
    assert bad.code == 1, bad.err + bad.out
    report = json.loads(bad.out)
    (gate_result,) = report["gates"]
    assert gate_result["metric"] == "quality.acc" and gate_result["passed"] is False and gate_result["drop"] > 0.05
    lost = [f for f in report["flips"] if f["direction"] == "right->wrong"]
    assert len(lost) > len(report["flips"]) - len(lost), "the scrambled copy loses more items than it gains"
    assert all(f["item_id"].startswith("easy-") for f in report["flips"])
    assert json.loads(same.out)["flips"] == []
    # Both runs ran here, on one build and thread count: nothing to warn of.
    assert json.loads(same.out)["platform"]["same"] is True and "warning" not in same.err
    # Without run ids, compare evaluates both models itself; every answer is already in the ledger's cache.
    auto = cli("compare", "default", str(broken), "--task", str(TASK), *gate, "--json")
    assert auto.code == 1, auto.err + auto.out
    found = json.loads(auto.out)
    assert found["base"]["run_id"] not in (base, again) and found["gates"][0]["drop"] == report["gates"][0]["drop"]
