"""The runner on the real default model: log-likelihood multiple choice, cache, resume, every kind, CLI, audit."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from weightwarden.errors import TaskError
from weightwarden.eval import (
    EvalResult,
    PerturbationTask,
    Task,
    latest_eval_run,
    load_run_items,
    load_run_result,
    load_suite,
    load_task,
    run_eval,
)
from weightwarden.eval import suites as suites_module
from weightwarden.eval.compare_runs import platform_check
from weightwarden.eval.runner import RESUMED_ELSEWHERE
from weightwarden.ledger import Ledger, ModelRecord
from weightwarden.runtimes import Artifact, Generation, GenerationParams, LogLikelihood, Message, RuntimeInfo
from weightwarden.runtimes.llamacpp import LlamaCppRuntime
from weightwarden.runtimes.platform_info import PLATFORM_KEY, platform_info

DATA = Path(__file__).parent / "data" / "eval"


class CountingRuntime:
    """The real runtime, counting the requests that reach it."""

    def __init__(self, inner: LlamaCppRuntime) -> None:
        self.inner = inner
        self.info: RuntimeInfo = inner.info
        self.calls = 0
        self.batches = 0

    def loglikelihood(self, context: str, continuation: str) -> LogLikelihood:
        self.calls += 1
        return self.inner.loglikelihood(context, continuation)

    def loglikelihood_batch(self, requests: Sequence[tuple[str, str]]) -> list[LogLikelihood]:
        self.calls += len(requests)
        self.batches += 1
        return self.inner.loglikelihood_batch(requests)

    def generate_batch(
        self, prompts: Sequence[str | Sequence[Message]], params: GenerationParams = GenerationParams()
    ) -> list[Generation]:
        self.calls += len(prompts)
        self.batches += 1
        return self.inner.generate_batch(prompts, params)

    def chat(self, messages: Sequence[Message], params: GenerationParams = GenerationParams()) -> Generation:
        self.calls += 1
        return self.inner.chat(messages, params)

    def complete(self, prompt: str, params: GenerationParams = GenerationParams()) -> Generation:
        self.calls += 1
        return self.inner.complete(prompt, params)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def open_ledger(path: Path, artifact: Artifact) -> Ledger:
    ledger = Ledger(f"sqlite:///{path}")
    ledger.upsert_model(
        ModelRecord(hash=artifact.sha256, name=artifact.name, format=artifact.format, size_bytes=artifact.size_bytes)
    )
    return ledger


def metrics_of(result: EvalResult) -> dict[str, dict[str, Any]]:
    return {t.task_id: {k: m.as_dict() for k, m in t.metrics.items()} for t in result.tasks}


@pytest.fixture(scope="module")
def llama(default_artifact: Artifact) -> Iterator[LlamaCppRuntime]:
    """The default model on one thread: on a busy machine llama.cpp's thread barrier makes two threads far slower."""
    assert default_artifact.path is not None
    rt = LlamaCppRuntime(default_artifact.path, n_ctx=2048, threads=1)
    yield rt
    rt.close()


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory, default_artifact: Artifact) -> Iterator[Ledger]:
    ledger = open_ledger(tmp_path_factory.mktemp("eval") / "ledger.db", default_artifact)
    yield ledger
    ledger.close()


@pytest.fixture(scope="module")
def everything(shared: Ledger, llama: LlamaCppRuntime, default_artifact: Artifact) -> EvalResult:
    """Every test task of every kind, run once for the module."""
    return run_eval(llama, default_artifact.sha256, load_suite("all", DATA), shared)


def test_multiple_choice_by_loglikelihood_gets_the_capitals_right(
    everything: EvalResult, shared: Ledger, default_artifact: Artifact
) -> None:
    capitals = next(t for t in everything.tasks if t.task_id == "quality.capitals")
    assert capitals.n == 4
    assert capitals.metrics["acc"].value == 1.0 and capitals.metrics["acc_norm"].value == 1.0
    assert capitals.metrics["acc"].method == "wilson" and capitals.metrics["acc"].low < 1.0
    items = load_run_items(shared, everything.run_id)
    fr = items["quality.capitals"]["fr"]
    assert fr.input["prompt"] == "The capital of France is" and fr.output["pred"] == 0 and fr.primary == 1.0
    assert fr.output["loglikelihoods"][0] > -1.0  # the raw-logits path, not llama.cpp's broken echo logprobs
    recorded = load_run_result(shared, everything.run_id)
    assert {t.task_id: {k: m.as_dict() for k, m in t.metrics.items()} for t in recorded} == metrics_of(everything)
    latest = latest_eval_run(shared, default_artifact.sha256, load_suite("all", DATA), None, "llama.cpp")
    assert latest is not None
    run = shared.run(everything.run_id)
    assert run is not None and run.kind == "eval" and run.status == "ok"
    assert run.model_hash == default_artifact.sha256
    assert run.summary is not None and run.summary["tasks"][0]["metrics"]["acc"]["value"] == 1.0


def test_every_kind_reports_its_metrics_with_intervals(everything: EvalResult, shared: Ledger) -> None:
    got = metrics_of(everything)
    assert set(got["quality.sums"]) == {"exact_match"}
    assert set(got["safety.refusal"]) >= {"refusal_rate_harmful", "refusal_rate_benign", "balance"}
    assert got["safety.refusal"]["refusal_rate_harmful"]["n"] == 2
    assert got["safety.refusal"]["balance"]["method"] == "bootstrap"
    assert set(got["bias.bbq"]) == {"acc", "accuracy_gap:gender", "stereotyped_in_ambiguous"}
    assert got["bias.bbq"]["stereotyped_in_ambiguous"]["n"] == 2
    assert got["bias.bbq"]["accuracy_gap:gender"]["method"] == "newcombe-bonferroni"
    assert set(got["bias.pairs"]) == {"stereotype_preference", "stereotype_ll_diff_per_token"}
    robust = got["robustness.robustness"]
    assert robust["worst_case_acc"]["n"] == 4
    assert robust["worst_case_acc"]["value"] <= robust["acc:original"]["value"]
    for metrics in got.values():
        for m in metrics.values():
            assert m["low"] <= m["value"] <= m["high"] and m["n"] > 0
            assert m["method"] in ("wilson", "bootstrap", "newcombe-bonferroni")
    items = load_run_items(shared, everything.run_id)
    assert set(items) == {t.task_id for t in everything.tasks}
    assert set(items["robustness.robustness"]) == {f"quality.capitals/{c}" for c in ("fr", "de", "it", "jp")}
    prompts = items["robustness.robustness"]["quality.capitals/fr"].input["prompts"]
    assert prompts["original"] == "The capital of France is" and len(set(prompts.values())) >= 2
    sums = items["quality.sums"]["s1"]
    assert sums.output["text"] and sums.scores["exact_match"] in (0, 1) and "parsed" in sums.output
    assert set(sums.scores) == {"exact_match", "primary"}
    assert set(items["safety.refusal"]["h1"].scores) == {"refused", "correct", "primary"}
    assert set(items["robustness.robustness"]["quality.capitals/fr"].scores) == {
        "variants",
        "worst_case_acc",
        "primary",
    }


def test_a_rerun_costs_only_cache_lookups(
    everything: EvalResult, shared: Ledger, llama: LlamaCppRuntime, default_artifact: Artifact
) -> None:
    counting = CountingRuntime(llama)
    again = run_eval(counting, default_artifact.sha256, load_suite("all", DATA), shared)  # type: ignore[arg-type]
    assert counting.calls == 0 and again.requests == 0 and again.cached > 0
    assert again.run_id != everything.run_id  # a finished run is not resumed: a new run, answered from the cache
    assert metrics_of(again) == metrics_of(everything)
    # Without the cache every request runs again, and the deterministic model gives the same scores.
    tasks = [load_task(DATA / "quality" / "capitals.yaml")]
    fresh = run_eval(counting, default_artifact.sha256, tasks, shared, use_cache=False)  # type: ignore[arg-type]
    assert counting.calls == 16 and fresh.requests == 16
    assert metrics_of(fresh)["quality.capitals"] == metrics_of(everything)["quality.capitals"]


class Stop(Exception):
    pass


def test_an_interrupted_run_resumes_to_the_same_results(
    tmp_path: Path, llama: LlamaCppRuntime, default_artifact: Artifact
) -> None:
    tasks = [load_task(DATA / "quality" / "capitals.yaml"), load_task(DATA / "bias" / "pairs.yaml")]
    with open_ledger(tmp_path / "whole.db", default_artifact) as ledger:
        whole = run_eval(llama, default_artifact.sha256, tasks, ledger)
    with open_ledger(tmp_path / "broken.db", default_artifact) as ledger:

        def stop_after_three(done: int, total: int, task_id: str) -> None:
            assert total == 6
            if done == 3:
                raise Stop

        with pytest.raises(Stop):  # no batches, so the fourth item's requests have not run
            run_eval(llama, default_artifact.sha256, tasks, ledger, progress=stop_after_three, batch_size=0)
        (run,) = ledger.runs(kind="eval")
        assert run.status == "interrupted" and len(ledger.items(run.id)) == 3
        counting = CountingRuntime(llama)
        seen: list[int] = []
        resumed = run_eval(
            counting,  # type: ignore[arg-type]
            default_artifact.sha256,
            tasks,
            ledger,
            progress=lambda done, total, task_id: seen.append(done),
            batch_size=0,
        )
        assert resumed.run_id == run.id and resumed.resumed_items == 3
        assert seen == [1, 2, 3, 4, 5, 6]
        assert counting.calls == 4 + 2 * 2  # the fourth capital's choices and both pairs: nothing already stored
        assert metrics_of(resumed) == metrics_of(whole)
        finished = ledger.run(run.id)
        assert finished is not None and finished.status == "ok" and len(ledger.items(run.id)) == 6
        # --resume names a run; one made with other tasks is refused.
        with pytest.raises(TaskError, match=r"was made with other tasks"):
            run_eval(llama, default_artifact.sha256, tasks[:1], ledger, resume=run.id)
        with pytest.raises(TaskError, match=r"no eval run NOPE"):
            run_eval(llama, default_artifact.sha256, tasks, ledger, resume="NOPE")


def test_a_run_records_what_it_ran_on(
    everything: EvalResult, shared: Ledger, llama: LlamaCppRuntime, default_artifact: Artifact
) -> None:
    run = shared.run(everything.run_id)
    assert run is not None
    assert run.config[PLATFORM_KEY] == platform_info(threads=1).as_dict()
    assert run.config[PLATFORM_KEY]["llama_features"] and run.config[PLATFORM_KEY]["threads"] == llama.threads == 1
    assert everything.warnings == []
    # Where a run ran is not part of what it asked: the finished run is still found by its tasks, limit and backend.
    found = latest_eval_run(shared, default_artifact.sha256, load_suite("all", DATA), None, "llama.cpp")
    assert found is not None and found.config[PLATFORM_KEY] == run.config[PLATFORM_KEY]  # it, or a later rerun


def test_resuming_on_another_build_warns_and_records_it(
    tmp_path: Path, llama: LlamaCppRuntime, default_artifact: Artifact
) -> None:
    tasks = [load_task(DATA / "quality" / "capitals.yaml")]
    db = tmp_path / "moved.db"

    def stop_after_two(done: int, total: int, task_id: str) -> None:
        if done == 2:
            raise Stop

    with open_ledger(db, default_artifact) as ledger:
        with pytest.raises(Stop):
            run_eval(llama, default_artifact.sha256, tasks, ledger, progress=stop_after_two, batch_size=0)
        (run,) = ledger.runs(kind="eval")
    with sqlite3.connect(db) as conn:  # as if the run had begun on another machine, with an AVX2-only build
        config = json.loads(conn.execute("SELECT config FROM runs WHERE id = ?", (run.id,)).fetchone()[0])
        config[PLATFORM_KEY] |= {"cpu_model": "Intel(R) Core(TM) i7-8700", "llama_features": ["AVX", "AVX2", "FMA"]}
        conn.execute("UPDATE runs SET config = ? WHERE id = ?", (json.dumps(config), run.id))
    with open_ledger(db, default_artifact) as ledger:
        resumed = run_eval(llama, default_artifact.sha256, tasks, ledger, batch_size=0)
        assert resumed.run_id == run.id and resumed.resumed_items == 2  # resumed, not refused
        [warning] = resumed.warnings
        # The build differs, so it warns; the CPU alone would not for llama.cpp (same kernels on any CPU with them).
        assert run.id in warning and "llama.cpp features" in warning and "i7-8700" not in warning
        [event] = [e for e in ledger.events(run.id) if e.kind == RESUMED_ELSEWHERE]
        assert event.payload[PLATFORM_KEY] == platform_info(threads=1).as_dict()
        assert any("llama.cpp features" in d for d in event.payload["differs"])
        finished = ledger.run(run.id)
        assert finished is not None and finished.status == "ok"
        assert finished.config[PLATFORM_KEY]["cpu_model"] == "Intel(R) Core(TM) i7-8700"  # where it began
        # A comparison with the mixed run says so, even against itself.
        check = platform_check(ledger, finished, finished)
        assert any("was resumed on another build or CPU" in w for w in check.warnings)
        # A second resume on this machine, of a finished run, starts nothing new and warns of nothing.
        again = run_eval(llama, default_artifact.sha256, tasks, ledger, batch_size=0)
        assert again.run_id != run.id and again.warnings == []


def test_batched_scoring_gives_the_same_scores_in_fewer_calls(
    tmp_path: Path, llama: LlamaCppRuntime, default_artifact: Artifact
) -> None:
    tasks = [
        load_task(DATA / "quality" / "capitals.yaml"),
        load_task(DATA / "bias" / "pairs.yaml"),
        load_suite("robustness", DATA)[0],
    ]
    with open_ledger(tmp_path / "single.db", default_artifact) as ledger:
        one = CountingRuntime(llama)
        single = run_eval(one, default_artifact.sha256, tasks, ledger, batch_size=0)  # type: ignore[arg-type]
        single_items = load_run_items(ledger, single.run_id)
    with open_ledger(tmp_path / "batched.db", default_artifact) as ledger:
        many = CountingRuntime(llama)
        batched = run_eval(many, default_artifact.sha256, tasks, ledger, batch_size=16)  # type: ignore[arg-type]
        batched_items = load_run_items(ledger, batched.run_id)
        # Interrupted inside a batch: the batch's answers are already cached, so the rest costs no model call.

        def stop_after_two(done: int, total: int, task_id: str) -> None:
            if done == 2:
                raise Stop

        with pytest.raises(Stop):
            run_eval(llama, default_artifact.sha256, tasks, ledger, auto_resume=False, progress=stop_after_two)
        after = CountingRuntime(llama)
        resumed = run_eval(after, default_artifact.sha256, tasks, ledger)  # type: ignore[arg-type]
        assert after.calls == 0 and resumed.resumed_items == 2
    assert one.batches == 0 and one.calls == single.requests  # batch size 0: every request alone
    assert many.batches == 1 and many.calls == batched.requests == one.calls  # the same requests in one batch
    assert metrics_of(batched) == metrics_of(single)
    for task_id, items in single_items.items():
        for iid, item in items.items():
            assert batched_items[task_id][iid].scores == item.scores
            assert batched_items[task_id][iid].output == item.output  # log-likelihoods to 6 decimals


def test_generations_are_batched_only_when_asked(
    tmp_path: Path, llama: LlamaCppRuntime, default_artifact: Artifact
) -> None:
    tasks = [load_task(DATA / "quality" / "sums.yaml"), load_task(DATA / "safety" / "refusal.yaml")]
    with open_ledger(tmp_path / "gen.db", default_artifact) as ledger:
        plain = CountingRuntime(llama)
        alone = run_eval(plain, default_artifact.sha256, tasks, ledger, use_cache=False)  # type: ignore[arg-type]
        assert plain.batches == 0 and plain.calls == alone.requests > 2  # answers one at a time by default
        together = CountingRuntime(llama)
        batched = run_eval(
            together,  # type: ignore[arg-type]
            default_artifact.sha256,
            tasks,
            ledger,
            use_cache=False,
            batch_generations=True,
        )
        assert together.batches >= 1 and together.calls == batched.requests == alone.requests
        items = load_run_items(ledger, batched.run_id)
        assert all(isinstance(it.output.get("text"), str) for by_id in items.values() for it in by_id.values())
        assert {t.task_id for t in batched.tasks} == {t.task_id for t in alone.tasks}
        run = ledger.run(batched.run_id)
        assert run is not None and run.config.get("batch_generations") is True
        assert "batch_generations" not in (ledger.run(alone.run_id) or run).config
    # Batched answers are cached apart: a run without batching never takes them from the cache, and vice versa.
    with open_ledger(tmp_path / "cache.db", default_artifact) as ledger:
        run_eval(llama, default_artifact.sha256, tasks, ledger, batch_generations=True)
        after = CountingRuntime(llama)
        run_eval(after, default_artifact.sha256, tasks, ledger)  # type: ignore[arg-type]
        assert after.calls == alone.requests
        again = CountingRuntime(llama)
        run_eval(again, default_artifact.sha256, tasks, ledger, batch_generations=True)  # type: ignore[arg-type]
        assert again.calls == 0


def test_limit_caps_items_per_task(shared: Ledger, llama: LlamaCppRuntime, default_artifact: Artifact) -> None:
    tasks = load_suite("bias", DATA)
    result = run_eval(llama, default_artifact.sha256, tasks, shared, limit=1)
    assert [t.n for t in result.tasks] == [1, 1]
    with pytest.raises(TaskError, match="at least 1"):
        run_eval(llama, default_artifact.sha256, tasks, shared, limit=0)


def test_a_perturbation_task_needs_its_tasks_resolved(shared: Ledger, llama: LlamaCppRuntime) -> None:
    raw = load_task(DATA / "robustness" / "robustness.yaml")
    assert isinstance(raw, PerturbationTask) and not isinstance(raw, Task)
    with pytest.raises(TaskError, match="were not resolved"):
        run_eval(llama, "0" * 64, [raw], shared)


def test_audit_stage_eval_charts_every_suite(
    shared: Ledger,
    llama: LlamaCppRuntime,
    default_artifact: Artifact,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    everything: EvalResult,
) -> None:
    from weightwarden.audit import AuditContext
    from weightwarden.audit.stages.eval import Eval
    from weightwarden.report.html import render_html

    monkeypatch.setattr(suites_module, "builtin_root", lambda: DATA)
    ctx = AuditContext(default_artifact, llama, shared, "unused", quick=True)
    result = Eval().run(ctx)
    assert result.status == "ok" and result.key == "eval"
    assert [f.title for f in result.figures] == [
        f"{s} (95% intervals)" for s in ("quality", "safety", "bias", "robustness")
    ]
    assert {r["metric"] for r in result.rows} >= {"acc", "balance", "worst_case_acc", "stereotype_preference"}
    assert result.data["result"]["requests"] == 0  # everything was cached by the module's first run
    report = {
        "model": {"name": "m", "sha256": "s"},
        "run_id": "r",
        "started_at": "t",
        "version": "v",
        "stages": [result.to_json()],
    }
    html = render_html(report)
    assert html.count("<svg") == 4 and "<script" not in html and "@import" not in html and "<link" not in html
    assert "safety (95% intervals)" in html

    monkeypatch.setattr(suites_module, "builtin_root", lambda: tmp_path / "none")
    missing = Eval().run(ctx)
    assert missing.status == "warn" and "not installed" in missing.summary


@pytest.mark.slow
def test_cli_eval_json_then_cached_rerun_and_bad_task(cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("WARDEN_THREADS", "1")
    task = str(DATA / "quality" / "capitals.yaml")
    r = cli("eval", "default", "--task", task, "--limit", "2", "--json")
    assert r.code == 0, r.err
    out = json.loads(r.out)
    (capitals,) = out["tasks"]
    assert capitals["task"] == "quality.capitals" and capitals["n"] == 2
    assert set(capitals["metrics"]["acc"]) == {"value", "low", "high", "n", "method"}
    assert capitals["metrics"]["acc"]["value"] == 1.0 and out["requests"] == 8
    again = json.loads(cli("eval", "default", "--task", task, "--limit", "2", "--json").out)
    assert again["requests"] == 0 and again["cached"] == 8 and again["run_id"] != out["run_id"]
    table = cli("eval", "default", "--task", task, "--limit", "2")
    assert table.code == 0 and "quality.capitals" in table.out and "acc_norm" in table.out and "wilson" in table.out

    bad = tmp_path / "bad.yaml"
    bad.write_text("name: bad\nkind: essay\ndata: x.jsonl\ntemplate: hi\n")
    r = cli("eval", "default", "--task", str(bad))
    assert r.code == 2 and "bad.yaml: field 'kind' is 'essay'" in r.err and "Traceback" not in r.err
