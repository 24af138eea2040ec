"""`warden monitor drift`: the tests hold their level on unshifted traffic, find a topic shift, say what grew, and
work end to end from gateway requests through sketches to the CLI and the ledger's monitor records."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import openai
import pytest
import sqlalchemy as sa

from gateway_server import NO_GUARD, policy, serve
from weightwarden.errors import WardenError
from weightwarden.ledger import Ledger, ModelRecord, RequestRecord
from weightwarden.ledger.records import utcnow
from weightwarden.ledger.store import new_run_id
from weightwarden.monitor.drift import drift, load_sample
from weightwarden.monitor.simulate import Traffic
from weightwarden.monitor.sketch import sketch_requests
from weightwarden.monitor.twosample import category_test, classifier_test, holm, mmd_test, numeric_test, rate_test
from weightwarden.monitor.window import parse_window
from weightwarden.runtimes import Artifact
from weightwarden.runtimes.embedder import SentenceEmbedder
from weightwarden.runtimes.llamacpp import LlamaCppRuntime

BASE = dict.fromkeys(("account", "billing", "shipping", "coding", "writing"), 1.0)
TRAVEL = {"visa", "passport", "itinerary", "airport", "flight", "trip", "hiking", "visit", "things", "kids", "water"}


@pytest.fixture(scope="module")
def embedder() -> Iterator[SentenceEmbedder]:
    emb = SentenceEmbedder()
    yield emb
    emb.close()


def test_holm_adjusts_step_down() -> None:
    assert holm([0.01, 0.04, 0.03, 0.5]) == pytest.approx([0.04, 0.09, 0.09, 0.5])
    assert holm([]) == []


def test_embedding_tests_hold_their_level_and_find_a_shift() -> None:
    rng = np.random.default_rng(0)
    calls = 0
    for seed in range(20):
        a, b = rng.normal(size=(120, 16)), rng.normal(size=(80, 16))
        calls += classifier_test(a, b, permutations=99, seed=seed).p_value < 0.05
        calls += mmd_test(a, b, permutations=99, seed=seed).p_value < 0.05
    assert calls <= 6  # 40 tests at level 0.05: 2 expected, 6 is past the 99th percentile of Binomial(40, 0.05)
    a, b = rng.normal(size=(120, 16)), rng.normal(size=(80, 16))
    b[:20, 0] += 4.0  # a quarter of the current rows come from elsewhere
    clf, mmd = classifier_test(a, b, permutations=99), mmd_test(a, b, permutations=99)
    assert clf.details["p_permutation"] == mmd.details["p_permutation"] == 0.01
    assert clf.p_value < 0.01 and mmd.p_value < 1e-4 and clf.effect > clf.details["threshold_auc"] > 0.5


def test_univariate_tests_and_effect_sizes() -> None:
    rng = np.random.default_rng(1)
    same = numeric_test("x", rng.normal(size=300), rng.normal(size=300))
    moved = numeric_test("x", rng.normal(size=300), rng.normal(loc=1.0, size=300))
    assert same.p_value > 0.01 and abs(same.effect) < 0.15
    assert moved.p_value < 1e-10 and 0.4 < moved.effect < 0.7  # Cliff's delta of a one-sigma shift is about 0.52
    rates = rate_test("refusal", np.arange(200) < 10, np.arange(200) < 40)
    assert rates.p_value < 0.001 and rates.details["rate_current"] == 0.2 and rates.effect > 0
    langs = category_test("language", ["en"] * 90 + ["fr"] * 10, ["en"] * 50 + ["fr"] * 50)
    assert langs.p_value < 1e-6 and langs.details["shares"]["fr"]["current"] == 0.5


def fill(
    ledger: Ledger,
    embed: Any,
    mix: dict[str, float],
    n: int,
    days_ago: float,
    rng: random.Random,
    *,
    latency: float,
    store_text: bool = True,
) -> list[RequestRecord]:
    """n audit rows with sketches, spread over the day before days_ago, as the gateway would write them."""
    now = utcnow()
    rows, items = [], []
    for _, prompt in Traffic.bundled().prompts(mix, n, rng):
        rec = RequestRecord(
            request_id=new_run_id(),
            time=now - timedelta(days=days_ago, hours=rng.uniform(0, 24)),
            route="/v1/chat/completions",
            status=200,
            model="default",
            model_hash="a" * 64,
            prompt_tokens=len(prompt.split()) * 2,
            completion_tokens=rng.randint(20, 60),
            total_ms=rng.lognormvariate(latency, 0.3),
            cost_usd=0.0,
            prompt_text=prompt if store_text else None,
        )
        rows.append(rec)
        items.append((rec, prompt, "Sure, here is how." if rng.random() > 0.1 else "I'm sorry, but I can't help."))
    ledger.add_requests(lambda: rows).result()
    ledger.add_sketches(sketch_requests(items, embed)).result()
    return rows


@pytest.fixture(scope="module")
def filled(tmp_path_factory: pytest.TempPathFactory, embedder: SentenceEmbedder) -> Iterator[Ledger]:
    """Reference: 10 to 20 days ago, the usual mix. Then a quiet current day 3 days ago, and a shifted one today."""
    rng = random.Random(7)
    with Ledger(f"sqlite:///{tmp_path_factory.mktemp('drift') / 'ledger.db'}") as ledger:
        ledger.upsert_model(ModelRecord(hash="a" * 64, name="default", format="gguf", size_bytes=1))
        for day in range(10, 20, 2):
            fill(ledger, embedder.embed, BASE, 30, day, rng, latency=6.0)
        fill(ledger, embedder.embed, BASE, 80, 3, rng, latency=6.0, store_text=False)
        shifted = {**{k: 0.6 / 5 for k in BASE}, "travel": 0.4}
        fill(ledger, embedder.embed, shifted, 80, 0, rng, latency=6.5)
        yield ledger


def test_unshifted_traffic_is_not_called_drift(filled: Ledger) -> None:
    report = drift(filled, parse_window("21d..9d"), parse_window("4d..2d"), permutations=99)
    assert not report.drifted, [(t.name, t.p_adjusted) for t in report.tests]
    assert report.counts == {
        "reference_requests": 150,
        "current_requests": 80,
        "reference_sketched": 150,
        "current_sketched": 80,
    }
    names = {t.name for t in report.tests}
    assert {"embedding: domain classifier", "embedding: MMD", "latency ms", "prompt chars", "refusal rate"} <= names
    assert "guard score, input" in report.skipped  # the guard was off: nothing to compare


def test_a_topic_shift_is_found_and_explained(filled: Ledger) -> None:
    report = drift(filled, parse_window("21d..9d"), parse_window("1d"), permutations=99)
    assert report.drifted
    for name in ("embedding: domain classifier", "embedding: MMD", "latency ms"):
        test = report.test(name)
        assert test is not None and test.p_adjusted < 0.05, name
    latency = report.test("latency ms")
    assert latency is not None and latency.effect > 0.5  # slower now: Cliff's delta towards current
    new = [c for c in report.clusters if c.direction == "new"]
    assert new and sum(c.share for c in new) > 0.2
    assert TRAVEL & set(new[0].terms), new[0].terms
    assert new[0].examples and all(len(e) <= 160 for e in new[0].examples)


def test_a_big_window_is_sampled_in_the_database_the_same_way_each_time(filled: Ledger) -> None:
    window = parse_window("21d..9d")
    first, again = load_sample(filled, window, max_rows=40), load_sample(filled, window, max_rows=40)
    assert first.requests == 150 and first.sketched == 40 and len(first.metrics["latency ms"]) == 40
    assert np.array_equal(first.embeddings, again.embeddings)
    assert not np.array_equal(first.embeddings, load_sample(filled, window).embeddings[:40])  # not the oldest 40


def test_drift_refuses_an_empty_window(filled: Ledger) -> None:
    with pytest.raises(WardenError, match="has no requests"):
        drift(filled, parse_window("2020-01-01..2020-01-31"), parse_window("1d"))
    with pytest.raises(WardenError, match="at least 19"):
        drift(filled, parse_window("21d..9d"), parse_window("1d"), permutations=5)


def ask(base_url: str, key: str, prompts: Sequence[str]) -> None:
    client = openai.OpenAI(base_url=base_url, api_key=key, max_retries=0, timeout=60)
    for p in prompts:
        client.chat.completions.create(model="default", messages=[{"role": "user", "content": p}], max_tokens=1)


def test_drift_end_to_end_through_the_gateway_and_the_cli(
    tmp_path: Path,
    llama: LlamaCppRuntime,
    default_artifact: Artifact,
    embedder: SentenceEmbedder,
    cli: Any,
) -> None:
    rng = random.Random(3)
    traffic = Traffic.bundled()
    with serve(tmp_path, llama, default_artifact, serving=policy(store_text=True, **NO_GUARD)) as gw:
        gw.ledger.upsert_model(ModelRecord(hash=default_artifact.sha256, name="default", format="gguf", size_bytes=1))
        worker = gw.gateway.audit.sketches
        assert worker is not None
        worker._make_embed = lambda: embedder.embed  # the module's embedder: the same model, loaded once
        key = gw.key()
        ask(gw.base_url, key, [p for _, p in traffic.prompts(BASE, 30, rng)])
        assert worker.flush() and len(gw.rows(30)) == 30
        # These were the reference traffic, ten days ago.
        with sa.create_engine(f"sqlite:///{tmp_path / 'ledger.db'}").begin() as conn:
            for table in ("requests", "request_sketches"):
                conn.execute(sa.text(f"UPDATE {table} SET time = datetime(time, '-10 days')"))
        ask(gw.base_url, key, [traffic.prompt("travel", rng) for _ in range(30)])
        assert worker.flush() and len(gw.rows(60)) == 60
        gw.ledger.flush()
        db = f"sqlite:///{tmp_path / 'ledger.db'}"
        out = cli("monitor", "drift", "--reference", "12d..8d", "--current", "1d", "--json", "--db", db)
        assert out.code == 0, out.err
        data = json.loads(out.out)
        assert data["drifted"] and data["counts"]["current_sketched"] == 30
        tests = {t["name"]: t for t in data["tests"]}
        assert tests["embedding: MMD"]["p_adjusted"] < 0.05
        # All of today's traffic is travel: the support topics of the reference are what is gone.
        gone = [c for c in data["clusters"] if c["direction"] == "gone"]
        assert gone and gone[0]["share"] > 0.5 and not TRAVEL & set(gone[0]["terms"]), data["clusters"]
        failing = cli("monitor", "drift", "--reference", "12d..8d", "--current", "1d", "--fail-on-drift", "--db", db)
        assert failing.code == 1 and "DRIFT" in failing.out and "embedding: MMD *" in failing.out
        runs = gw.ledger.runs(model_hash=default_artifact.sha256, kind="monitor")
        events = [e for e in gw.ledger.events() if e.kind == "monitor"]
    assert len(runs) == 2 and runs[0].summary is not None and runs[0].summary["drifted"] is True
    assert len(events) == 2 and events[0].payload["what"] == "drift"


def _bench(name: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    """bench/NAME.py as a module, its sibling modules importable as when it runs as a script."""
    import importlib.util

    folder = Path(__file__).resolve().parent.parent / "bench"
    monkeypatch.syspath_prepend(str(folder))
    spec = importlib.util.spec_from_file_location(f"bench_{name}", folder / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


PEER_MISSING = "Evidently is the drift peer, a bench-only dependency: pip install -r requirements-peer.lock"


def test_our_drift_verdicts_agree_with_evidentlys_on_a_clear_shift_and_on_none(
    embedder: SentenceEmbedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("evidently", reason=PEER_MISSING)
    peer = _bench("drift_peer", monkeypatch)
    rng = random.Random(7)
    traffic = Traffic.bundled()
    base = [p for _, p in traffic.prompts(BASE, 500, rng)]
    travel = [traffic.prompt("travel", rng) for _ in range(60)]
    vectors = np.asarray(embedder.embed(base + travel), dtype=np.float64)
    lengths = np.array([len(p) for p in base + travel], dtype=float)
    ref = slice(0, 300)
    same = slice(300, 500)  # the usual mix: no shift
    shifted = np.r_[300:440, 500:560]  # 30% of the current window is travel: a clear shift
    for index, expect in ((same, False), (shifted, True)):
        ours = peer.our_verdicts(vectors[ref], vectors[index], lengths[ref], lengths[index], 99, 0)
        theirs = peer.evidently_verdicts(vectors[ref], vectors[index], lengths[ref], lengths[index])
        assert ours["drifted"] is theirs["drifted"] is expect, (ours, theirs)
        # The length test is the same two-sample KS on both sides: the same p-value before our Holm adjustment.
        assert ours["prompt chars"]["p"] == pytest.approx(theirs["prompt chars: ks"]["p"], rel=1e-9)


def test_power_bench_runs_evidentlys_embedding_drift_on_the_same_windows(
    embedder: SentenceEmbedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("evidently", reason=PEER_MISSING)
    bench = _bench("monitor", monkeypatch)
    pool = bench.embed_pool(300, 60, seed=3, embedder=embedder)
    windows = 2
    result = bench.power(windows, 60, 0.3, 19, 3, peer=True, report_check=1, pool=pool, reference_size=150)
    peer, agreement = result["peer"], result["agreement"]
    for rates in (result, peer, peer["mmd"]):
        for key in ("detection_rate", "false_alarm_rate"):
            low, high = rates[f"{key}_ci95"]
            assert 0 <= low <= rates[key] <= high <= 1, rates
        assert rates["seconds_per_window"] > 0 and rates["cpu_seconds_per_window"] > 0
    # The agreement counts are the two tools' verdicts on the same windows, so they add up to each tool's rates.
    for kind, rate in (("shift", "detection_rate"), ("null", "false_alarm_rate")):
        counts = agreement[kind]
        assert sum(counts.values()) == windows
        assert counts["both"] + counts["ours_only"] == round(result[rate] * windows)
        assert counts["both"] + counts["evidently_only"] == round(peer[rate] * windows)
    assert agreement["agree"] == sum(agreement[k]["both"] + agreement[k]["neither"] for k in ("shift", "null"))
    # A reference under 1,000 rows: Evidently's metric bootstraps its threshold; the full Report (with its t-SNE
    # plot) gives the score and verdict of the direct call the bench times.
    assert peer["tool"].startswith("evidently 0.7") and "bootstrap" in peer["method"]
    assert [(c["window"], c["kind"]) for c in peer["report_check"]] == [(0, "null"), (0, "shift")]
    assert all(c["same"] for c in peer["report_check"]), peer["report_check"]
