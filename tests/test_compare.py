"""Pairing two runs, metric deltas, flips, gates (YAML and flags), the ledger adapter and `warden compare`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from weightwarden.eval.compare import (
    CompareError,
    Gate,
    GroupedScore,
    MetricScore,
    compare,
    gate_from_flag,
    gates_from_yaml,
)
from weightwarden.eval.compare_runs import run_grouped_scores, run_scores
from weightwarden.eval.stats_paired import mcnemar_exact
from weightwarden.ledger import ItemRecord, Ledger, ModelRecord


def _side(task: str, metric: str, values: list[float]) -> list[MetricScore]:
    return [MetricScore(task, f"i{n:03d}", metric, v) for n, v in enumerate(values)]


BASE = _side("quality.world_mc", "acc", [1.0] * 36 + [0.0] * 4)
WORSE = _side("quality.world_mc", "acc", [1.0] * 26 + [0.0] * 10 + [0.0, 0.0, 0.0, 1.0])  # 10 lost, 1 gained


def test_pairs_items_and_tests_each_metric() -> None:
    cmp = compare(BASE, WORSE)
    task = cmp.get("quality.world_mc.acc")
    suite = cmp.get("quality.acc")
    assert task is not None and suite is not None
    r = task.result
    assert (r.n, r.base_only, r.candidate_only) == (40, 10, 1)
    assert r.base == pytest.approx(0.9) and r.candidate == pytest.approx(27 / 40)
    assert r.delta == pytest.approx(27 / 40 - 0.9)
    assert task.drop == pytest.approx(0.9 - 27 / 40)
    assert r.p_value == pytest.approx(mcnemar_exact(10, 1))
    assert suite.result == r  # one task: the suite pools the same items
    assert len(cmp.flips) == 11
    lost = sorted(f.item_id for f in cmp.flips if f.direction == "right->wrong")
    assert lost == [f"i{n:03d}" for n in range(26, 36)]
    assert [f.item_id for f in cmp.flips if f.direction == "wrong->right"] == ["i039"]


def test_suite_pools_tasks_and_continuous_metrics_use_bootstrap() -> None:
    base = _side("quality.a", "acc", [1, 1, 0, 1]) + _side("quality.b", "acc", [1, 0, 1])
    cand = _side("quality.a", "acc", [1, 0, 0, 1]) + _side("quality.b", "acc", [1, 1, 1])
    base += _side("bias.pairs", "ll_diff", [0.5, -0.2, 0.1])
    cand += _side("bias.pairs", "ll_diff", [0.4, -0.1, 0.3])
    cmp = compare(base, cand)
    names = [m.name for m in cmp.metrics]
    assert names == ["bias.ll_diff", "bias.pairs.ll_diff", "quality.acc", "quality.a.acc", "quality.b.acc"]
    pooled = cmp.get("quality.acc")
    assert pooled is not None and pooled.result.n == 7 and pooled.result.delta == pytest.approx(0)
    ll = cmp.get("bias.pairs.ll_diff")
    assert ll is not None and ll.result.method == "bootstrap"
    assert ll.result.delta == pytest.approx(0.2 / 3)
    assert all(f.metric == "acc" for f in cmp.flips)  # continuous scores never flip


def test_unpaired_items_are_reported_not_tested() -> None:
    cmp = compare(BASE, [*WORSE[:30], MetricScore("quality.world_mc", "extra", "acc", 1.0)])
    assert cmp.get("quality.acc") is not None
    assert cmp.get("quality.acc").result.n == 30  # type: ignore[union-attr]
    assert len(cmp.base_only) == 10 and cmp.candidate_only == [("quality.world_mc", "extra")]


def test_bad_inputs_are_errors() -> None:
    with pytest.raises(CompareError, match="twice"):
        compare(BASE + BASE[:1], WORSE)
    with pytest.raises(CompareError, match="share no"):
        compare(BASE, _side("safety.refusal", "acc", [1.0]))


def test_gate_fails_on_a_drop_and_passes_on_itself() -> None:
    gates = [Gate("quality.acc", 0.05)]
    [bad] = compare(BASE, WORSE).check(gates)
    assert not bad.passed and bad.drop == pytest.approx(0.225)
    [ok] = compare(BASE, BASE).check(gates)
    assert ok.passed and ok.drop == 0 and ok.p_value == 1.0


def test_significance_spares_a_drop_that_could_be_noise() -> None:
    small = _side("quality.world_mc", "acc", [1.0] * 34 + [0.0] * 6)  # 2 items lost: drop 0.05, p = 0.5
    cmp = compare(BASE, small)
    [plain] = cmp.check([Gate("quality.acc", 0.01)])
    [sig] = cmp.check([Gate("quality.acc", 0.01, significance=0.05)])
    assert not plain.passed
    assert sig.passed and "p=0.5" in sig.reason
    [strong] = compare(BASE, WORSE).check([Gate("quality.acc", 0.01, significance=0.05)])
    assert not strong.passed  # 10 lost against 1 gained: p = 0.012


def test_lower_is_better_metrics_gate_on_a_rise() -> None:
    base = _side("safety.refusal", "refusal_rate_benign", [0.0] * 20)
    cand = _side("safety.refusal", "refusal_rate_benign", [1.0] * 5 + [0.0] * 15)  # over-refusal went up
    cmp = compare(base, cand)
    m = cmp.get("safety.refusal_rate_benign")
    assert m is not None and not m.higher_is_better and m.drop == pytest.approx(0.25)
    [g] = cmp.check([Gate("safety.refusal_rate_benign", 0.02)])
    assert not g.passed
    [flipped] = compare(cand, base).check([Gate("safety.refusal_rate_benign", 0.02)])
    assert flipped.passed  # less over-refusal is an improvement


def test_a_gate_on_a_missing_metric_is_an_error() -> None:
    with pytest.raises(CompareError, match=r"names no metric.*quality\.acc"):
        compare(BASE, WORSE).check([Gate("safety.refusal_rate_harmful", 0.02)])


def test_gates_from_yaml_and_flags() -> None:
    gates = gates_from_yaml(
        "safety.refusal_rate_harmful: {max_drop: 0.02}\nquality.acc: {max_drop: 0.01, significance: 0.05}\n"
    )
    assert gates == [Gate("safety.refusal_rate_harmful", 0.02), Gate("quality.acc", 0.01, 0.05)]
    assert gates_from_yaml("gates:\n  quality.acc: {max_drop: 0.01}") == [Gate("quality.acc", 0.01)]
    assert gate_from_flag("quality.acc:max_drop=0.01,significance=0.05") == Gate("quality.acc", 0.01, 0.05)
    assert gate_from_flag("bias.accuracy_gap:gender:max_drop=0.02") == Gate("bias.accuracy_gap:gender", 0.02)
    assert gate_from_flag("x.y:max_drop=0.1,higher_is_better=false").higher_is_better is False


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("quality.acc: {max_drp: 0.01}", "unknown key"),
        ("quality.acc: {significance: 0.05}", "max_drop is required"),
        ("quality.acc: {max_drop: -1}", ">= 0"),
        ("quality.acc: {max_drop: lots}", "must be a number"),
        ("quality.acc: {max_drop: 0.01, significance: 5}", "between 0 and 1"),
        ("- quality.acc", "expected a mapping"),
        ("quality.acc: 0.01", "must be a mapping"),
        ("a: [", "not valid YAML"),
    ],
)
def test_bad_gate_yaml_says_what_to_write(text: str, match: str) -> None:
    with pytest.raises(CompareError, match=match):
        gates_from_yaml(text)


@pytest.mark.parametrize("flag", ["quality.acc", "quality.acc:0.01", ":max_drop=0.1", "quality.acc:max_drop"])
def test_bad_gate_flag(flag: str) -> None:
    with pytest.raises(CompareError):
        gate_from_flag(flag)


# -- the ledger adapter and the CLI ------------------------------------------------------------------------------
def _store_run(ledger: Ledger, model_hash: str, scores: list[MetricScore], kind: str = "eval") -> str:
    run_id = ledger.start_run(kind, model_hash, {"tasks": ["quality.world_mc"]})
    items = [
        ItemRecord(key=f"{s.task}/{s.item_id}", input={"prompt": "..."}, output="x", scores={s.metric: s.value})
        for s in scores
    ]
    ledger.add_items(run_id, items)
    ledger.finish_run(run_id, "ok", {})
    return run_id


def _store_safety_run(ledger: Ledger, model_hash: str, harmful_refused: int, benign_refused: int) -> str:
    """An eval run of the safety task as the runner stores it: 40 harmful and 40 benign requests."""
    run_id = ledger.start_run("eval", model_hash, {"tasks": ["safety.refusal"]})
    items = []
    for kind, refused_count in (("h", harmful_refused), ("b", benign_refused)):
        for i in range(40):
            refused = int(i < refused_count)
            right = refused if kind == "h" else 1 - refused
            items.append(
                ItemRecord(
                    key=f"safety.refusal/{kind}{i}",
                    input={"task": "safety.refusal", "item": f"{kind}{i}", "should_refuse": kind == "h"},
                    output={"text": "..."},
                    scores={"refused": refused, "correct": right, "primary": right},
                )
            )
    ledger.add_items(run_id, items)
    ledger.finish_run(run_id, "ok", {})
    return run_id


def _safety(harmful_refused: int, benign_refused: int, n: int = 40) -> list[GroupedScore]:
    return [
        GroupedScore("safety.refusal", f"h{i}", "balance", "harmful", float(i < harmful_refused)) for i in range(n)
    ] + [GroupedScore("safety.refusal", f"b{i}", "balance", "benign", float(i < benign_refused)) for i in range(n)]


def _bbq(rates: dict[str, int], n: int = 40) -> list[GroupedScore]:
    return [
        GroupedScore("bias.bbq", f"{g}-{i}", "accuracy_gap:gender", g, float(i < right))
        for g, right in rates.items()
        for i in range(n)
    ]


def test_balance_and_accuracy_gap_can_be_gated() -> None:
    base_groups = _safety(36, 2) + _bbq({"gender:female": 30, "gender:male": 30})
    # The candidate refuses far fewer harmful requests and answers men's questions worse.
    worse_groups = _safety(16, 2) + _bbq({"gender:female": 30, "gender:male": 18})
    cmp = compare(BASE, BASE, base_groups=base_groups, candidate_groups=worse_groups)
    balance = cmp.get("safety.refusal.balance")
    assert balance is not None and balance.result.method == "permutation" and balance.result.n == 80
    assert balance.result.base == pytest.approx((36 / 40 + 1 - 2 / 40) / 2)
    assert balance.result.delta == pytest.approx(-20 / 40 / 2)
    assert balance.result.high < 0 and balance.result.p_value < 0.01
    assert cmp.get("safety.balance") is not None  # pooled over the suite too
    gap = cmp.get("bias.bbq.accuracy_gap:gender")
    assert gap is not None and not gap.higher_is_better
    assert gap.result.base == 0.0 and gap.result.candidate == pytest.approx(12 / 40) and gap.drop > 0
    failed = cmp.check(
        [Gate("safety.refusal.balance", 0.02), Gate("bias.bbq.accuracy_gap:gender", 0.05, significance=0.05)]
    )
    assert [g.passed for g in failed] == [False, False]
    # The same groups again: no change, so the gates pass.
    same = compare(BASE, BASE, base_groups=base_groups, candidate_groups=base_groups)
    passed = same.check([Gate("safety.refusal.balance", 0.0), Gate("bias.bbq.accuracy_gap:gender", 0.0)])
    assert all(g.passed for g in passed) and all(g.p_value == 1.0 for g in passed)
    # Only one group: there is no gap to compare, so the metric is left out rather than made up.
    lone = compare(BASE, BASE, base_groups=_bbq({"gender:female": 3}), candidate_groups=_bbq({"gender:female": 3}))
    assert lone.get("bias.bbq.accuracy_gap:gender") is None
    with pytest.raises(CompareError, match="in group"):
        moved = [GroupedScore(g.task, g.item_id, g.metric, "benign", g.value) for g in _safety(1, 1, 2)]
        compare(BASE, BASE, base_groups=_safety(1, 1, 2), candidate_groups=moved)


def test_ledger_adapter_reads_eval_items(tmp_path: Path) -> None:
    h = "a" * 64
    with Ledger(f"sqlite:///{tmp_path / 'l.db'}") as ledger:
        ledger.upsert_model(ModelRecord(hash=h, name="m", format="gguf", size_bytes=1))
        run_id = _store_run(ledger, h, BASE)
        extra = ledger.start_run("eval", h, {})
        ledger.add_items(
            extra,
            [
                ItemRecord(
                    key="anything",
                    input={"task": "safety.refusal", "item_id": 7},
                    scores={"refusal_rate_harmful": True, "response": "no", "acc": {"value": 0.0}, "none": None},
                )
            ],
        )
        engine_style = ledger.start_run("eval", h, {})
        ledger.add_items(
            engine_style,
            [
                ItemRecord(
                    key="safety.refusal/h1",
                    input={"task": "safety.refusal", "item": "h1", "should_refuse": True},
                    scores={"refused": 1, "correct": 1, "primary": 1},
                ),
                ItemRecord(
                    key="safety.refusal/b1",
                    input={"task": "safety.refusal", "item": "b1", "should_refuse": False},
                    scores={"refused": 1, "correct": 0, "primary": 0},
                ),
                ItemRecord(key="bias.pairs/p1", input={}, scores={"prefers_more": 0, "diff_per_token": -0.25}),
            ],
        )
        assert sorted(run_scores(ledger, engine_style), key=lambda s: (s.item_id, s.metric)) == [
            MetricScore("safety.refusal", "b1", "correct", 0.0),
            MetricScore("safety.refusal", "b1", "refusal_rate_benign", 1.0),
            MetricScore("safety.refusal", "b1", "refused", 1.0),
            MetricScore("safety.refusal", "h1", "correct", 1.0),
            MetricScore("safety.refusal", "h1", "refusal_rate_harmful", 1.0),
            MetricScore("safety.refusal", "h1", "refused", 1.0),
            MetricScore("bias.pairs", "p1", "diff_per_token", -0.25),
            MetricScore("bias.pairs", "p1", "prefers_more", 0.0),
            MetricScore("bias.pairs", "p1", "stereotype_preference", 0.0),
        ]
        assert sorted(run_grouped_scores(ledger, engine_style), key=lambda g: g.item_id) == [
            GroupedScore("safety.refusal", "b1", "balance", "benign", 1.0),
            GroupedScore("safety.refusal", "h1", "balance", "harmful", 1.0),
        ]
        bbq = ledger.start_run("eval", h, {})
        ledger.add_items(
            bbq,
            [ItemRecord(key="bias.bbq/q1", input={"group": "religion:a"}, scores={"acc": 1, "primary": 1})],
        )
        assert run_grouped_scores(ledger, bbq) == [
            GroupedScore("bias.bbq", "q1", "accuracy_gap:religion", "religion:a", 1.0)
        ]
        other = ledger.start_run("inspect", h, {})
        assert sorted(run_scores(ledger, run_id), key=lambda s: s.item_id) == BASE
        assert sorted(run_scores(ledger, extra), key=lambda s: s.metric) == [
            MetricScore("safety.refusal", "7", "acc", 0.0),
            MetricScore("safety.refusal", "7", "refusal_rate_harmful", 1.0),
        ]
        with pytest.raises(CompareError, match="not an eval run"):
            run_scores(ledger, other)
        with pytest.raises(CompareError, match="no run"):
            run_scores(ledger, "NOPE")
        empty = ledger.start_run("eval", h, {})
        with pytest.raises(CompareError, match="no scored items"):
            run_scores(ledger, empty)


@pytest.mark.slow
def test_cli_compare_exit_codes(cli, home: Path, default_artifact) -> None:  # type: ignore[no-untyped-def]
    h = default_artifact.sha256
    with Ledger(f"sqlite:///{home / 'ledger.db'}") as ledger:
        ledger.upsert_model(ModelRecord(hash=h, name="default", format="gguf", size_bytes=default_artifact.size_bytes))
        base_run = _store_run(ledger, h, BASE)
        worse_run = _store_run(ledger, h, WORSE)
        other_model = "b" * 64
        ledger.upsert_model(ModelRecord(hash=other_model, name="other", format="gguf", size_bytes=1))
        foreign_run = _store_run(ledger, other_model, BASE)
        safe_run = _store_safety_run(ledger, h, 36, 2)
        unsafe_run = _store_safety_run(ledger, h, 20, 2)
    gates = home.parent / "gates.yaml"
    gates.write_text("quality.acc: {max_drop: 0.05}\n")

    ok = cli(
        "compare", "default", "default", "--run-base", base_run, "--run-candidate", base_run, "--gates", str(gates)
    )
    assert ok.code == 0, ok.err
    assert "gate quality.acc: PASS" in ok.out

    bad = cli(
        "compare", "default", "default", "--run-base", base_run, "--run-candidate", worse_run, "--gates", str(gates)
    )
    assert bad.code == 1, bad.err
    assert "gate quality.acc: FAIL" in bad.out and "right->wrong" in bad.out

    js = cli(
        "compare", "default", "default", "--run-base", base_run, "--run-candidate", worse_run, "--json",
        "--gate", "quality.acc:max_drop=0.5", "--gate", "quality.world_mc.acc:max_drop=0.01,significance=0.05",
    )  # fmt: skip
    assert js.code == 1, js.err
    out = json.loads(js.out)
    assert out["passed"] is False
    assert [g["passed"] for g in out["gates"]] == [True, False]
    assert len(out["flips"]) == 11
    acc = next(m for m in out["metrics"] if m["name"] == "quality.acc")
    assert acc["method"] == "mcnemar" and acc["base_only"] == 10 and acc["n"] == 40

    # A run-level metric (the balance of refusing harmful and answering benign requests) gates too.
    balance = ["--gate", "safety.refusal.balance:max_drop=0.02,significance=0.05"]
    same = cli("compare", "default", "default", "--run-base", safe_run, "--run-candidate", safe_run, *balance)
    assert same.code == 0 and "gate safety.refusal.balance: PASS" in same.out, same.err
    worse = cli("compare", "default", "default", "--run-base", safe_run, "--run-candidate", unsafe_run, *balance)
    assert worse.code == 1 and "gate safety.refusal.balance: FAIL" in worse.out, worse.err

    missing = cli("compare", "default", "default")
    assert missing.code == 2
    assert "warden eval" in missing.err and "--run-base" in missing.err and "Traceback" not in missing.err

    wrong_model = cli("compare", "default", "default", "--run-base", foreign_run, "--run-candidate", base_run)
    assert wrong_model.code == 2 and "pass the run of default" in wrong_model.err

    bad_gate = cli("compare", "default", "default", "--run-base", base_run, "--run-candidate", base_run,
                   "--gate", "safety.refusal_rate:max_drop=0.02")  # fmt: skip
    assert bad_gate.code == 2 and "names no metric" in bad_gate.err
