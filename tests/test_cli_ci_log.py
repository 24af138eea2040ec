"""`warden eval` and `warden compare` as CI runs them (stdout and stderr pipes) and as a person does (a terminal).

A copy of the default model with one layer scrambled fails the gate: the table that explains it must be whole in a
log (metric names, intervals), progress must reach stderr as lines with done/total, and --format md must be a table
a CI job can paste into a pull request.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from terminal import in_terminal, piped, plain
from weightwarden.eval.degrade import layer_tensors, scramble_gguf
from weightwarden.runtimes import Artifact

TASK = str(Path(__file__).parent / "data" / "compare_easy_mc.yaml")
GATE = ("--gate", "quality.acc:max_drop=0.05")


@pytest.fixture(scope="module")
def scrambled(default_artifact: Artifact, tmp_path_factory: pytest.TempPathFactory) -> Path:
    assert default_artifact.path is not None
    out = tmp_path_factory.mktemp("degraded") / "degraded.gguf"
    scramble_gguf(default_artifact.path, out, layer_tensors(1), seed=0)
    return out


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("ci") / "home"  # one ledger: later runs reuse the cached answers


@pytest.mark.slow
def test_a_failed_gate_reads_whole_in_a_ci_log(home: Path, scrambled: Path) -> None:
    r = piped(home, "compare", "default", str(scrambled), "--task", TASK, *GATE)
    assert r.code == 1, r.out + r.err
    assert "…" not in r.out and "\x1b[" not in r.out
    row = next(line for line in r.out.splitlines() if line.strip().startswith("quality.acc "))
    assert row.split()[1] == "48"  # n, then the scores, the delta and the whole interval on the same line
    assert re.search(r"\[[-+]0\.\d{4}, [-+]0\.\d{4}\]", row), row
    assert "mcnemar" in row
    assert "gate quality.acc: FAIL (" in r.out
    # progress: a line per stage on stderr, with done/total, for each model evaluated
    stages = [line for line in r.err.splitlines() if line.startswith("eval ") and "easy_mc" in line]
    assert any(line.startswith("eval default: quality.easy_mc 1/48 (2%)") for line in stages), r.err
    assert any(line.startswith(f"eval {scrambled}: quality.easy_mc ") for line in stages), r.err


@pytest.mark.slow
def test_a_narrow_ci_log_folds_and_keeps_every_character(home: Path, scrambled: Path) -> None:
    r = piped(home, "compare", "default", str(scrambled), "--task", TASK, *GATE, "--quiet", COLUMNS="80")
    assert r.code == 1
    assert r.err == ""  # --quiet: no progress lines
    lines = r.out.splitlines()
    assert max(map(len, lines)) <= 80 and "…" not in r.out
    assert "quality.acc_norm" in "".join(line.replace(" ", "") for line in lines)


@pytest.mark.slow
def test_format_md_for_a_pull_request_comment(home: Path, scrambled: Path) -> None:
    r = piped(home, "compare", "default", str(scrambled), "--task", TASK, *GATE, "--format", "md")
    assert r.code == 1
    lines = r.out.splitlines()
    assert "| metric | n | base | candidate | delta | 95% interval | p | test | flips -/+ |" in lines
    assert any(line.startswith("| quality.acc | 48 |") for line in lines)
    assert any(line.startswith("- gate `quality.acc`: **FAIL**") for line in lines)


@pytest.mark.slow
def test_eval_in_a_terminal_draws_a_bar_with_an_eta(home: Path) -> None:
    r = in_terminal(home, "eval", "default", "--task", TASK, "--limit", "6", "--fresh", "--no-cache", width=120)
    assert r.code == 0, r.out
    text = plain(r.out)
    assert "eval default: quality.easy_mc" in text and "ETA" in text  # the bar, drawn while it ran
    assert "/6" in text
    assert "easy_mc" in text and "acc" in text  # then the table
    quiet = in_terminal(home, "eval", "default", "--task", TASK, "--limit", "6", "--quiet")
    assert "ETA" not in plain(quiet.out)


@pytest.mark.slow
def test_eval_format_md(home: Path) -> None:
    r = piped(home, "eval", "default", "--task", TASK, "--limit", "6", "--format", "md")
    assert r.code == 0, r.err
    lines = r.out.splitlines()
    assert "| task | metric | value | 95% interval | n | method |" in lines
    assert any(line.startswith("| quality.easy_mc | acc |") for line in lines), r.out
