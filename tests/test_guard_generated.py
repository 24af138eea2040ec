"""The guard's generated data files match what their generator writes from the recorded evidence, byte for byte.

encoder.npz and train_fingerprints.npz need the source wheels and a 10-minute embedding pass to rebuild
(training/guard/train.py); here their recorded hashes are checked instead, and the files derived from the recorded
figures (the policy's learned lines, the data card's sources table) are regenerated and compared.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

from training.guard.train import write_card_table, write_policy

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "src" / "weightwarden" / "data" / "guard"
RESULTS = json.loads((ROOT / "bench" / "results" / "guard_quality.json").read_text(encoding="utf-8"))


def test_the_default_policy_is_what_training_writes_from_the_measured_thresholds(tmp_path: Path) -> None:
    out = tmp_path / "policy.default.yaml"
    shutil.copy(DATA / "policy.default.yaml", out)
    write_policy(out, {la: 0.5 for la in RESULTS["thresholds"]}, {la: "log" for la in RESULTS["actions"]})
    assert out.read_bytes() != (DATA / "policy.default.yaml").read_bytes()  # scrambled, now regenerate
    write_policy(out, RESULTS["thresholds"], RESULTS["actions"], RESULTS["block_above"])
    assert out.read_bytes() == (DATA / "policy.default.yaml").read_bytes()


def test_the_data_card_sources_table_is_what_training_writes(tmp_path: Path) -> None:
    out = tmp_path / "README.md"
    shutil.copy(DATA / "README.md", out)
    write_card_table(out, [{**r, "counts": {}} for r in RESULTS["sources"]])  # scramble, then regenerate
    assert out.read_bytes() != (DATA / "README.md").read_bytes()
    write_card_table(out, RESULTS["sources"])
    assert out.read_bytes() == (DATA / "README.md").read_bytes()


def test_the_weights_are_the_ones_the_figures_were_measured_on() -> None:
    card = json.loads((DATA / "model.json").read_text(encoding="utf-8"))["encoder"]
    digest = hashlib.sha256((DATA / "encoder.npz").read_bytes()).hexdigest()
    assert digest == RESULTS["encoder_sha256"] == card["encoder_sha256"]
    assert card["thresholds"] == RESULTS["thresholds"] and card["actions"] == RESULTS["actions"]
    assert card["block_above"] == RESULTS["block_above"]


def test_the_default_policy_blocks_at_most_one_percent_of_every_benign_kind_out_of_source() -> None:
    """Issue 11, item 4, on the recorded figures: what the bundled policy blocks (threshold where a label blocks,
    block_above where it flags) stays at most 1% of every benign kind, all labels together."""
    kinds = RESULTS["leave_one_source_out"]["kinds"]
    assert kinds and all(k["blocked"] <= 0.01 for k in kinds.values()), kinds
    policy = (DATA / "policy.default.yaml").read_text(encoding="utf-8")
    for la, value in RESULTS["block_above"].items():
        assert RESULTS["actions"][la] != "block" and f"block_above: {value:.4f}" in policy
        assert RESULTS["leave_one_source_out"]["labels"][la]["blocks_from"] == round(value, 4)


def test_the_default_policy_flags_at_most_two_percent_of_every_benign_kind_out_of_source() -> None:
    """Issue 11's target for the default policy, on the recorded figures: its flags (any label) stay at most
    FLAG_KIND_FPR of every benign kind out of source, role prompts included, and no threshold is below the one set
    on all benign texts pooled (1%)."""
    from training.guard.train import FLAG_KIND_FPR

    kinds = RESULTS["leave_one_source_out"]["kinds"]
    assert {"role", "request", "alarming", "document", "system_prompt"} <= set(kinds)
    assert all(k["flagged"] <= FLAG_KIND_FPR for k in kinds.values()), kinds
    pooled = RESULTS["thresholds_pooled"]
    assert all(RESULTS["thresholds"][la] >= pooled[la] for la in pooled)
