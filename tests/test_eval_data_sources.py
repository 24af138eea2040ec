"""Every generated file under src/weightwarden/data/eval is what its source under scripts/eval_data/ generates, byte
for byte: edit the source and rerun its script, never the generated file. Files that no script writes are listed
with the reason."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = ROOT / "scripts" / "eval_data"
EVAL = ROOT / "src" / "weightwarden" / "data" / "eval"
# In the order they run: cards.py counts the items the others wrote.
GENERATORS = ("quality.py", "safety.py", "bias.py", "refusal_heldout.py", "cards.py")
NOT_GENERATED = {
    "robustness/robustness.yaml": "written by hand: it only names quality tasks and perturbations",
    "refusal_model.json": "trained by scripts/eval_data/refusal_model.py from a dev file named on its command line",
}


@pytest.fixture(scope="module")
def regenerated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("eval-data")
    env = {**os.environ, "WARDEN_EVAL_DATA_OUT": str(out)}
    for script in GENERATORS:
        subprocess.run([sys.executable, str(SCRIPTS / script)], cwd=SCRIPTS, env=env, check=True, capture_output=True)
    return out


def committed() -> list[str]:
    return sorted(str(p.relative_to(EVAL)) for p in EVAL.rglob("*") if p.is_file())


def test_every_data_file_is_generated_or_explained(regenerated: Path) -> None:
    made = {str(p.relative_to(regenerated)) for p in regenerated.rglob("*") if p.is_file()}
    assert set(committed()) == made | set(NOT_GENERATED), "a data file with no source, or a source with no file"
    assert not made & set(NOT_GENERATED)


@pytest.mark.parametrize("name", [n for n in committed() if n not in NOT_GENERATED])
def test_generated_file_matches_its_source(regenerated: Path, name: str) -> None:
    ours = (regenerated / name).read_bytes()
    assert ours == (EVAL / name).read_bytes(), f"{name} differs from what its script writes: rerun scripts/eval_data"
