"""The heads' fit as training/guard/loso.py weighs it, and the probe that compares fits (probe_heads.py)."""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import numpy as np
import pytest
from training.guard import loso, probe_heads
from training.guard.sources import Item


def _items(spec: list[tuple[str, tuple[str, ...], int]]) -> list[Item]:
    out = []
    for source, labels, n in spec:
        for i in range(n):
            kind = "attack" if labels else "request"
            out.append(Item(f"{source} {labels} {i}", labels, source, kind, "p", "1", "x", "MIT"))
    return out


def test_source_weights_at_each_power() -> None:
    items = _items([("big", ("injection",), 100), ("big", (), 25), ("small", ("injection",), 4)])
    mask = np.ones(len(items), dtype=bool)
    half = loso.source_weights(items, mask)
    assert half[0] == 1 / math.sqrt(100) and half[100] == 1 / math.sqrt(25) and half[125] == 1 / math.sqrt(4)
    # at power 1 every (source, class) weighs 1 in all, whatever its size
    one = loso.source_weights(items, mask, 1.0)
    for sl in (slice(0, 100), slice(100, 125), slice(125, 129)):
        assert one[sl].sum() == pytest.approx(1.0)
    # at power 0 every text weighs 1; a text outside the mask weighs nothing and counts toward no size
    mask[125] = False
    zero = loso.source_weights(items, mask, 0.0)
    assert zero[125] == 0 and set(zero[mask]) == {1.0}
    assert loso.source_weights(items, mask)[126] == 1 / math.sqrt(3)


def test_the_heads_fit_reads_its_c_and_power() -> None:
    """A smaller C shrinks the heads' weights; the shipped defaults give the fit of the explicit shipped values."""
    rng = np.random.default_rng(0)
    every = ("injection", "jailbreak", "harmful")
    items = _items([("a", every, 30), ("a", (), 30), ("b", every, 5), ("b", (), 40)])
    y = np.array([bool(it.labels) for it in items])
    x = (rng.normal(size=(len(items), 6)) + 0.8 * y[:, None]).astype(np.float32)
    ch = loso.Chunked(x.copy(), np.arange(len(items)))
    mask = np.ones(len(items), dtype=bool)
    w_default, b_default = loso.fit_heads_mil(x, ch, items, mask)
    w_shipped, b_shipped = loso.fit_heads_mil(x, ch, items, mask, c=loso.HEAD_C, power=loso.HEAD_POWER)
    np.testing.assert_array_equal(w_default, w_shipped)
    np.testing.assert_array_equal(b_default, b_shipped)
    w_small, _ = loso.fit_heads_mil(x, ch, items, mask, c=0.01)
    assert np.linalg.norm(w_small[:, 0]) < np.linalg.norm(w_default[:, 0])
    w_equal, _ = loso.fit_heads_mil(x, ch, items, mask, power=1.0)
    assert not np.array_equal(w_equal, w_default)


def test_source_groups_hold_every_training_source_once_and_balance_sizes() -> None:
    items = _items([(f"s{i}", ("injection",) if i % 2 else (), 10 * (i + 1)) for i in range(9)])
    mask = np.array([it.source != "s8" for it in items])  # s8 held out: in no group
    g = loso.source_groups(items, mask, 3)
    assert set(g) == {f"s{i}" for i in range(8)} and set(g.values()) == {0, 1, 2}
    load = [sum(10 * (int(s[1:]) + 1) for s, k in g.items() if k == grp) for grp in range(3)]
    assert max(load) - min(load) <= 80  # greedy: within the largest source's size


@pytest.mark.parametrize("spec", ["0.3", "x:0.5", "0:0.5", "0.3:2", "-1:0.5"])
def test_the_probe_refuses_a_variant_it_cannot_read(spec: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError):
        probe_heads.variant(spec)


def test_the_probe_reads_a_variant() -> None:
    assert probe_heads.variant("0.1:1") == (0.1, 1.0)


def test_the_label_audit_draws_blind_and_reads_its_marks_against_the_labels(tmp_path: Path) -> None:
    from training.guard import label_audit

    labels = np.array(["injection"] * 6 + ["injection,jailbreak"] * 2 + [""] * 6 + ["harmful"] * 3)
    train = np.ones(len(labels), dtype=bool)
    train[0] = False  # a held-out text is never drawn
    pick = label_audit.draw(labels, train, 4, 3, seed=1)
    assert len(set(pick)) == 7 and 0 not in pick
    assert sum("injection" in labels[i] for i in pick) == 4 and sum(labels[i] == "" for i in pick) == 3
    np.testing.assert_array_equal(pick, label_audit.draw(labels, train, 4, 3, seed=1))  # the same sample again
    with pytest.raises(ValueError, match="there are 7 and 6"):
        label_audit.draw(labels, train, 8, 3, seed=1)
    # scores: positives the reader marks score high, the unmarked positive scores like the benign texts; the gate
    # stopped one benign text (the same score on every label)
    scores = np.zeros((len(labels), 3))
    sources = np.array([f"s{i % 3}" for i in range(len(labels))])
    pos = [i for i in pick if labels[i] != ""]
    neg = [i for i in pick if labels[i] == ""]
    for j, i in enumerate(pos):
        scores[i] = [0.9 - 0.1 * j, 0.2, 0.1]
    scores[pos[-1]] = [0.05, 0.3, 0.2]
    for j, i in enumerate(neg):
        scores[i] = [0.1 + 0.01 * j, 0.05, 0.0]
    scores[neg[0]] = [0.02, 0.02, 0.02]
    marked = {k for k, i in enumerate(pick) if i in pos[:-1]}
    out = label_audit.summarise(scores, labels, sources, pick, marked)
    assert out["positives"] == 4 and out["benign"] == 3 and out["positives_not_recognizable"] == 1
    assert out["benign_marked_as_attacks"] == 0 and out["benign_stopped_by_gate"] == 1
    assert out["reader_recall"] == 0.75 and out["reader_fpr"] == 0.0
    assert out["guard_auc_recognizable_vs_benign"] == 1.0 and out["guard_auc_not_recognizable_vs_benign"] == 0.333
    assert sum(out["positives_by_source"].values()) == 4


def test_the_quality_benchs_rerun_keeps_every_option_of_the_shipped_build() -> None:
    """`bench/guard_quality.py --rerun` rebuilds with the stored command's options (not a MiniLM-only build over the
    shipped weights): only the machine's paths are left for the user to give again."""
    import importlib.util
    import json

    root = Path(__file__).resolve().parents[1]
    spec = importlib.util.spec_from_file_location("bench_guard_quality", root / "bench" / "guard_quality.py")
    assert spec is not None and spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    stored = json.loads((root / "bench" / "results" / "guard_quality.json").read_text(encoding="utf-8"))
    options = bench.rerun_options(stored["command"])
    assert "--decoder" in options and "--top-k" in options  # the shipped build's cascade
    assert not {"--wheels", "--static"} & set(options) and not any(o.startswith("/") for o in options)
    cmd = "PYTHONPATH=src:. python -m training.guard.train --wheels /w --static=/s --cache /c --top-k 3 --screen 0.3"
    assert bench.rerun_options(cmd) == ["--top-k", "3", "--screen", "0.3"]
    with pytest.raises(ValueError, match=r"not a training\.guard\.train run"):
        bench.rerun_options("python something_else.py --top-k 3")


def test_two_readers_agreement() -> None:
    from training.guard import label_audit

    positive = np.array([True] * 6 + [False] * 4)
    out = label_audit.agreement(10, {0, 1, 2, 3}, {0, 1, 2, 4, 6}, positive)
    # positives 0-2 marked by both, 3 and 4 by one each, 5 by neither; benign 6 by the second reader
    assert out["agree"] == 7 and out["texts"] == 10
    assert out["positives_marked_by_neither"] == 1 and out["positives_marked_by_one"] == 2
    assert out["benign_marked_by_either"] == 1 and out["second_reader_positives_not_marked"] == 2
    assert 0 < out["cohen_kappa"] < 1
    assert label_audit.agreement(10, {1, 2}, {1, 2}, positive)["cohen_kappa"] == 1.0


def test_the_written_multilingual_source_holds_as_many_benign_texts_as_attacks_in_each_language() -> None:
    """project/multilingual-attacks: per language two injections and a jailbreak beside a request, a document and a
    role prompt, so a head cannot learn the language as the cue; the blocks read before it keep their texts."""
    import unicodedata

    from training.guard.sources import written_items

    items = written_items()
    ml = [it for it in items if it.source == "project/multilingual-attacks"]
    attacks = [it for it in ml if it.labels]
    benign = [it for it in ml if not it.labels]
    assert len(attacks) == len(benign) == 42
    assert sum(it.labels == ("injection",) for it in attacks) == 28
    assert sum(it.labels == ("jailbreak",) for it in attacks) == 14
    assert {it.kind for it in benign} == {"request", "document", "role"}

    def script(text: str) -> str:
        names = [unicodedata.name(c, "").split()[0] for c in text if c.isalpha()]
        return max(set(names), key=names.count)

    # the same scripts on both sides (Latin, Cyrillic, CJK, Hiragana/Katakana, Hangul, Arabic, Devanagari)
    assert {script(it.text) for it in attacks} == {script(it.text) for it in benign}
    # read after every seeded draw (only the planted-instructions block, which draws nothing, follows it)
    tail = [it for it in items if it.source != "project/planted-instructions"]
    assert [it.source for it in tail[-len(ml) :]] == ["project/multilingual-attacks"] * len(ml)


def test_the_planted_instructions_source_pairs_each_attack_with_a_note_of_the_same_shape_to_a_person() -> None:
    """project/planted-instructions: every document carries, on one side, a sentence asking an AI reader for what its
    user did not ask and, on the other, a note to a person, in the same carrier after the same task line; no attack
    uses the usual override words, so the trial measures what the guard reads beyond them."""
    import re
    from collections import Counter

    import yaml
    from training.guard.sources import WRITTEN, written_items

    items = written_items()
    planted = [it for it in items if it.source == "project/planted-instructions"]
    attacks = [it for it in planted if it.labels]
    benign = [it for it in planted if not it.labels]
    assert len(attacks) == len(benign) == 48
    assert {it.labels for it in attacks} == {("injection",)} and {it.kind for it in benign} == {"document"}
    assert not any(
        re.search(r"ignore|previous instructions|system|override|disregard|forget", it.text, re.I) for it in attacks
    )

    spec = yaml.safe_load(WRITTEN.read_text(encoding="utf-8"))["planted_instructions"]

    def frame(text: str, sentences: list[str]) -> str:
        """The text without its planted sentence or note: the task line and carrier both sides share."""
        found = [x for x in sentences if x in text]
        assert len(found) == 1
        return text.replace(found[0], "")

    assert Counter(frame(it.text, spec["injections"]) for it in attacks) == Counter(
        frame(it.text, spec["benign_notes"]) for it in benign
    )
    assert len(set(it.text for it in planted)) == 96
    # the source comes last: every other written source is what it was without it
    assert [it.source for it in items[-len(planted) :]] == ["project/planted-instructions"] * len(planted)


def test_the_label_audit_command_samples_blind_and_refuses_marks_it_cannot_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import json

    from training.guard import label_audit

    labels = np.array(["injection"] * 5 + [""] * 5)
    scores = np.linspace(0.05, 0.95, 30).reshape(10, 3)
    npz = tmp_path / "scores.npz"
    np.savez(npz, scores=scores, labels=labels, source=np.array(["s"] * 10),
             text=np.array([f"text number {i}" for i in range(10)]), train=np.ones(10, dtype=bool))  # fmt: skip
    blind = tmp_path / "blind.txt"
    common = ["--scores", str(npz), "--positives", "3", "--benign", "2"]
    monkeypatch.setattr("sys.argv", ["label_audit", "sample", *common, "--out", str(blind)])
    assert label_audit.main() == 0
    shown = blind.read_text(encoding="utf-8")
    assert shown.count("### ") == 5 and "injection" not in shown  # texts only: no labels, no scores
    for bad, message in (("[1, 2]", "a JSON object"), ('{"recognizable": [7]}', "outside 0..4"), ("{", "")):
        marks = tmp_path / "marks.json"
        marks.write_text(bad, encoding="utf-8")
        monkeypatch.setattr("sys.argv", ["label_audit", "summarise", *common, "--judged", str(marks)])
        with pytest.raises(SystemExit) as exc:
            label_audit.main()
        assert exc.value.code == 2 and message in capsys.readouterr().err
    marks.write_text('{"recognizable": [0, 1], "how": "test"}', encoding="utf-8")
    out = tmp_path / "out.json"
    monkeypatch.setattr("sys.argv", ["label_audit", "summarise", *common, "--judged", str(marks), "--out", str(out)])
    assert label_audit.main() == 0
    result = json.loads(out.read_text(encoding="utf-8"))
    assert result["summary"]["positives"] == 3 and result["summary"]["benign"] == 2 and result["how"] == "test"
    assert all("text" not in item for item in result["items"]) and len(result["items"]) == 5
