"""Request sketches: made off the request path, kept without text, turned off by policy, deleted with old text."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence
from datetime import timedelta
from pathlib import Path

import numpy as np
import openai
import pytest
import sqlalchemy as sa

from gateway_server import NO_GUARD, policy, serve
from weightwarden.ledger import Ledger, RequestRecord, migrations, schema
from weightwarden.ledger.records import utcnow
from weightwarden.ledger.store import new_run_id
from weightwarden.monitor.language import guess_language
from weightwarden.monitor.sketch import dequantize, is_refusal, prompt_of, quantize, sketch_requests
from weightwarden.monitor.worker import SketchWorker
from weightwarden.runtimes import Artifact
from weightwarden.runtimes.embedder import SentenceEmbedder
from weightwarden.runtimes.llamacpp import LlamaCppRuntime


@pytest.fixture(scope="module")
def embedder() -> Iterator[SentenceEmbedder]:
    emb = SentenceEmbedder()
    yield emb
    emb.close()


def record(text: str = "", **fields: object) -> RequestRecord:
    base: dict[str, object] = {
        "request_id": new_run_id(),
        "time": utcnow(),
        "route": "/v1/chat/completions",
        "status": 200,
        "model": "default",
    }
    return RequestRecord(**{**base, **fields})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("How do I reset the password of my account? The link in the email does not work.", "en"),
        ("Comment est-ce que je peux changer le mot de passe de mon compte ?", "fr"),
        ("Wie kann ich das Passwort für mein Konto ändern? Der Link ist nicht gültig.", "de"),
        ("¿Cómo puedo cambiar la contraseña de mi cuenta? El enlace no funciona para mí.", "es"),
        ("Как мне сменить пароль от моей учётной записи?", "ru"),
        ("パスワードを変更するにはどうすればいいですか", "ja"),
        ("我怎么修改我的账户密码", "zh"),
        ("12345 !!!", "und"),
    ],
)
def test_language_guess(text: str, code: str) -> None:
    assert guess_language(text) == code


def test_refusals_and_answers() -> None:
    assert is_refusal("I'm sorry, but I can't help with making explosives.")
    assert is_refusal("I cannot assist with that request.")
    assert is_refusal("As an AI, I must decline.")
    assert not is_refusal("Sure! Paris is the capital of France.")
    assert not is_refusal("To reset it, open Settings and choose Password. I can help with more if needed.")


def test_the_prompt_of_a_chat_is_its_last_user_message() -> None:
    chat = '[{"role": "system", "content": "Be terse."}, {"role": "user", "content": "First"}, ' + (
        '{"role": "assistant", "content": "ok"}, {"role": "user", "content": "Second question"}]'
    )
    assert prompt_of(chat) == "Second question"
    assert prompt_of('["one", "two"]') == "one\ntwo"
    assert prompt_of("[not json") == "[not json"
    assert prompt_of(None) == ""


def test_int8_embedding_keeps_the_direction(embedder: SentenceEmbedder) -> None:
    texts = ["How do I cancel my subscription?", "Write a haiku about autumn leaves.", ""]
    sketches = sketch_requests(
        [(record(), t, "I'm sorry, but I cannot do that." if i == 0 else "fine") for i, t in enumerate(texts)],
        embedder.embed,
    )
    exact = np.asarray(embedder.embed(texts[:2]))
    for s, want in zip(sketches[:2], exact, strict=True):
        assert s.embedding is not None and len(s.embedding) == embedder.dimensions == 384
        got = dequantize(s.embedding, s.embedding_scale or 0.0)
        assert float(got @ want / np.linalg.norm(got)) > 0.999
    assert [s.refusal for s in sketches] == [True, False, False]
    assert sketches[2].embedding is None and sketches[2].prompt_chars == 0 and sketches[2].language is None
    assert sketches[0].prompt_words == 6 and sketches[0].language == "en"
    data, scale = quantize([0.0, 0.0])
    assert dequantize(data, scale).tolist() == [0.0, 0.0]


def test_guard_scores_are_kept_by_side_and_detector() -> None:
    verdicts = {
        "input": [{"detector": "injection", "label": "clean", "score": 0.2}, {"detector": "pii", "score": 0.7}],
        "output": [{"detector": "pii", "score": 0.1}],
    }
    (s,) = sketch_requests([(record(verdicts=verdicts), "hello there", None)], None)
    assert s.guard_scores == {"input:injection": 0.2, "input:pii": 0.7, "output:pii": 0.1}
    assert (s.guard_input, s.guard_output, s.refusal, s.embedding) == (0.7, 0.1, None, None)


def gated_embedder(gate: threading.Event):  # type: ignore[no-untyped-def]
    """An embedder factory that loads until `gate` is set (two minutes at most)."""

    def make():  # type: ignore[no-untyped-def]
        gate.wait(120)
        return lambda texts: [[1.0, 0.0]] * len(texts)

    return make


def test_submit_never_waits_for_the_embedder_and_drops_past_its_bound(tmp_path: Path) -> None:
    gate = threading.Event()
    with Ledger(f"sqlite:///{tmp_path / 'ledger.db'}") as ledger:
        worker = SketchWorker(ledger, embedder=gated_embedder(gate), max_pending=10)
        for i in range(50):
            worker.submit(record(), f"prompt {i}", "answer")  # returns while the embedder is stuck loading
        worker.submit(record(), None, None)  # nothing to sketch: not queued, not dropped
        assert worker.dropped == 40
        gate.set()
        assert worker.flush()
        worker.close()
        found = ledger.sketches()
    assert len(found) == worker.written == 10
    assert all(s.embedding == quantize([1.0, 0.0])[0] for s in found)


def test_close_does_not_wait_for_a_load_when_nothing_is_queued(tmp_path: Path) -> None:
    """A gateway stopped seconds after it started used to wait for MiniLM to finish loading (4.4 s for
    `warden serve` on SIGTERM); with nothing to sketch there is nothing to wait for."""
    gate = threading.Event()
    with Ledger(f"sqlite:///{tmp_path / 'ledger.db'}") as ledger:
        worker = SketchWorker(ledger, embedder=gated_embedder(gate))
        closing = threading.Thread(target=worker.close)
        closing.start()
        closing.join(30)
        returned, loaded = not closing.is_alive(), worker.ready.is_set()
        gate.set()  # let the load end either way, so a failure does not leave the thread behind
        closing.join(130)
        assert returned, "close() waited for an embedder nobody needs"
        assert not loaded  # it returned while the load was still going
        worker.submit(record(), "after close", None)  # refused: the worker is closed
        assert worker.written == 0 and ledger.sketches() == []


def test_close_sketches_what_is_queued_without_waiting_for_a_load(tmp_path: Path) -> None:
    """The embedder loads at the idle priority, so on a busy machine a gateway stopped soon after its first
    requests waited for as long as the load took (past the 30 s a test allowed `warden serve` to stop): close()
    now sketches what is queued without embeddings, and nothing queued is lost."""
    gate = threading.Event()
    with Ledger(f"sqlite:///{tmp_path / 'ledger.db'}") as ledger:
        worker = SketchWorker(ledger, embedder=gated_embedder(gate))
        worker.submit(record(), "a prompt that came in while the embedder loaded", "answer")
        closing = threading.Thread(target=worker.close)
        closing.start()
        closing.join(30)
        returned, loaded = not closing.is_alive(), worker.ready.is_set()
        gate.set()
        closing.join(130)
        assert returned and not loaded, "close() waited for the embedder"
        ledger.flush()  # the sketch went to the ledger's writer thread
        (sketch,) = ledger.sketches()
    assert sketch.embedding is None and sketch.prompt_chars == len("a prompt that came in while the embedder loaded")
    assert worker.unembedded == 1 and worker.written == 1


def test_close_waits_for_the_batch_the_thread_holds(tmp_path: Path) -> None:
    """A batch already taken by the thread (the embedder loads on first use here) is sketched with its embedding
    before close() returns: close() only skips a load nothing has started to wait on."""
    gate = threading.Event()
    with Ledger(f"sqlite:///{tmp_path / 'ledger.db'}") as ledger:
        worker = SketchWorker(ledger, embedder=gated_embedder(gate), preload=False)
        worker.submit(record(), "taken before close", "answer")
        assert wait_for(lambda: worker._in_hand == 1)
        closing = threading.Thread(target=worker.close)
        closing.start()
        closing.join(0.5)
        assert closing.is_alive()  # the batch in hand keeps close() waiting for the embedder
        gate.set()
        closing.join(120)
        assert not closing.is_alive()
        ledger.flush()
        (sketch,) = ledger.sketches()
    assert sketch.embedding == quantize([1.0, 0.0])[0]


def test_a_ledger_from_before_sketches_upgrades_and_its_rows_have_none(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    monkeypatch.setattr(migrations, "MIGRATIONS", migrations.MIGRATIONS[:4])
    rec = record(prompt_text="kept")
    with Ledger(url) as old, old._engine.begin() as conn:  # the row as the code of that schema wrote it
        conn.execute(
            sa.insert(schema.requests).values(**{c.name: getattr(rec, c.name) for c in schema.requests.columns})
        )
    monkeypatch.undo()
    with Ledger(url) as ledger:
        assert [r.prompt_text for r in ledger.requests()] == ["kept"]
        assert ledger.sketches() == []
        hours = ledger.query("hourly", sa.select(sa.func.sum(schema.usage_hourly.c.requests)))
        assert list(hours[0].values()) == [1]  # the upgrade's backfill counted the old row


def test_old_sketches_go_with_old_text(tmp_path: Path) -> None:
    with Ledger(f"sqlite:///{tmp_path / 'ledger.db'}") as ledger:
        old, new = record(time=utcnow() - timedelta(days=40)), record()
        ledger.add_sketches(sketch_requests([(old, "old question", None), (new, "new question", None)], None)).result()
        ledger.add_sketches(sketch_requests([(new, "the same request again", None)], None)).result()  # kept once
        ledger.forget_request_text(utcnow() - timedelta(days=30))
        assert [s.request_id for s in ledger.sketches()] == [new.request_id]
        assert ledger.sketches()[0].prompt_chars == len("new question")


def chat(gw_base: str, key: str, questions: Sequence[str]) -> None:
    client = openai.OpenAI(base_url=gw_base, api_key=key, max_retries=0, timeout=60)
    for q in questions:
        client.chat.completions.create(
            model="default",
            messages=[{"role": "system", "content": "Be brief."}, {"role": "user", "content": q}],
            max_tokens=4,
        )


QUESTIONS = ["Which city is the capital of Italy?", "Wie spät ist es in Berlin?"]


def test_gateway_requests_get_sketches_without_text(
    tmp_path: Path, llama: LlamaCppRuntime, default_artifact: Artifact, embedder: SentenceEmbedder
) -> None:
    # The module's embedder: the same model, loaded once.
    with serve(tmp_path, llama, default_artifact, serving=policy(**NO_GUARD), sketch_embed=embedder.embed) as gw:
        worker = gw.gateway.audit.sketches
        assert worker is not None
        chat(gw.base_url, gw.key(), QUESTIONS)
        rows = gw.rows(2)
        assert worker.flush()
        gw.ledger.flush()
        sketches = {s.request_id: s for s in gw.ledger.sketches()}
    assert all(r.prompt_text is None and r.response_text is None for r in rows)  # store_text is off
    assert set(sketches) == {r.request_id for r in rows}
    by_chars = {s.prompt_chars: s for s in sketches.values()}
    assert set(by_chars) == {len(q) for q in QUESTIONS}  # the user's message, not the system prompt or JSON
    assert [by_chars[len(q)].language for q in QUESTIONS] == ["en", "de"]
    for q in QUESTIONS:
        s = by_chars[len(q)]
        assert s.embedding is not None and s.response_chars is not None and s.response_chars > 0
        vec = dequantize(s.embedding, s.embedding_scale or 0.0)
        assert float(vec @ np.asarray(embedder.embed([q])[0]) / np.linalg.norm(vec)) > 0.999


def test_policy_turns_sketches_off(tmp_path: Path, llama: LlamaCppRuntime, default_artifact: Artifact) -> None:
    with serve(tmp_path, llama, default_artifact, serving=policy(sketches=False, **NO_GUARD)) as gw:
        assert gw.gateway.audit.sketches is None
        chat(gw.base_url, gw.key(), QUESTIONS[:1])
        gw.rows(1)
        gw.ledger.flush()
        assert gw.ledger.sketches() == []
    with pytest.raises(Exception, match="sketches must be true or false"):
        policy(sketches="yes")


def counting_embedder(calls: list[int]):  # type: ignore[no-untyped-def]
    def make():  # type: ignore[no-untyped-def]
        def embed(texts: Sequence[str]) -> list[list[float]]:
            calls.append(len(texts))
            return [[1.0, 0.0]] * len(texts)

        return embed

    return make


def wait_for(check, timeout: float = 30.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def test_sketches_wait_while_a_model_generates_and_run_when_it_is_idle(tmp_path: Path) -> None:
    generating = threading.Event()
    generating.set()
    calls: list[int] = []
    with Ledger(f"sqlite:///{tmp_path / 'ledger.db'}") as ledger:
        worker = SketchWorker(ledger, embedder=counting_embedder(calls), busy=generating.is_set, max_delay=3600)
        for i in range(3):
            worker.submit(record(), f"prompt {i}", "answer")
        time.sleep(0.3)  # several of the worker's looks at busy()
        assert calls == [] and worker.written == 0
        generating.clear()
        assert wait_for(lambda: worker.written == 3)
        assert calls == [3]  # the three waited together, one batch
        worker.close()


def test_a_busy_model_delays_sketches_but_never_loses_them(tmp_path: Path) -> None:
    calls: list[int] = []
    with Ledger(f"sqlite:///{tmp_path / 'ledger.db'}") as ledger:
        # Never idle: a full backlog goes at once, and so does anything older than max_delay (here: at once).
        full = SketchWorker(ledger, embedder=counting_embedder(calls), busy=lambda: True, max_delay=3600, backlog=2)
        full.submit(record(), "one", None)
        full.submit(record(), "two", None)
        assert wait_for(lambda: full.written == 2)
        full.submit(record(), "three", None)
        assert full.flush()  # flush does not wait for an idle model
        assert full.written == 3
        full.submit(record(), "four", None)
        full.close()  # nor does close (it leaves the write to the ledger's writer)
        assert wait_for(lambda: full.written == 4)
        late = SketchWorker(ledger, embedder=counting_embedder(calls), busy=lambda: True, max_delay=0.0)
        late.submit(record(), "five", None)
        assert wait_for(lambda: late.written == 1)
        late.close()
        assert len(ledger.sketches()) == 5


def test_sketches_wait_for_an_idle_stretch_not_the_gap_between_two_answers(tmp_path: Path) -> None:
    calls: list[int] = []
    with Ledger(f"sqlite:///{tmp_path / 'ledger.db'}") as ledger:
        # A client sending request after request leaves the model idle for moments; a sketch there would slow the
        # next answer. Here the model is idle, but not yet for idle_for: nothing is embedded until flush().
        worker = SketchWorker(ledger, embedder=counting_embedder(calls), busy=lambda: False, idle_for=3600)
        worker.submit(record(), "one", None)
        time.sleep(0.3)
        assert calls == [] and worker.written == 0
        assert worker.flush()
        assert calls == [1] and worker.written == 1
        worker.close()
        # A model that flickers (busy, then idle for less than idle_for, again and again) never looks idle.
        flicker = iter([True, False] * 1000)
        flickering = SketchWorker(
            ledger, embedder=counting_embedder(calls), busy=lambda: next(flicker, True), idle_for=0.2, poll=0.01
        )
        flickering.submit(record(), "two", None)
        time.sleep(0.3)
        assert flickering.written == 0
        # Idle long enough: the queue goes.
        quiet = SketchWorker(ledger, embedder=counting_embedder(calls), busy=lambda: False, idle_for=0.1)
        quiet.submit(record(), "three", None)
        assert wait_for(lambda: quiet.written == 1)
        flickering.close()
        quiet.close()


def test_a_failing_embedder_loses_the_embedding_not_the_sketch(tmp_path: Path) -> None:
    def broken():  # type: ignore[no-untyped-def]
        def embed(texts: Sequence[str]) -> list[list[float]]:
            raise RuntimeError("the embedder process stopped answering")

        return embed

    with Ledger(f"sqlite:///{tmp_path / 'ledger.db'}") as ledger:
        worker = SketchWorker(ledger, embedder=broken)
        prompt = "Quelle est la capitale de la France ? Je voudrais le savoir pour mon voyage avec les enfants."
        worker.submit(record(), prompt, "I cannot help with that.")
        assert worker.flush()
        assert worker.written == 1 and worker.unembedded == 1 and worker.failed == 0
        (kept,) = ledger.sketches()
        assert kept.embedding is None
        assert kept.prompt_chars == len(prompt) and kept.language == "fr"
        assert kept.refusal is True
        worker.close()


def test_a_busy_model_sketches_once_the_pending_text_is_too_large(tmp_path: Path) -> None:
    calls: list[int] = []
    with Ledger(f"sqlite:///{tmp_path / 'ledger.db'}") as ledger:
        worker = SketchWorker(
            ledger, embedder=counting_embedder(calls), busy=lambda: True, max_delay=3600, max_chars=1000
        )
        worker.submit(record(), "short prompt", "short answer")
        time.sleep(0.2)
        assert worker.written == 0  # held while the model generates
        worker.submit(record(), "x" * 600, "y" * 600)  # now 1,224 characters wait: over max_chars
        assert wait_for(lambda: worker.written == 2)
        assert calls == [2]
        worker.close()


def test_the_sketch_thread_yields_its_core_and_keeps_torch_to_itself(tmp_path: Path) -> None:
    import torch

    from weightwarden.runtimes.embedder import torch_threads_here
    from weightwarden.runtimes.threads import _thread_seconds

    seen: dict[str, object] = {}

    def sketching() -> None:
        torch_threads_here(1)
        torch.ones(64, 64) @ torch.ones(64, 64)
        seen["mine"] = torch.get_num_threads()

    everyone = torch.get_num_threads()
    t = threading.Thread(target=sketching)
    t.start()
    t.join()
    later: dict[str, int] = {}
    other = threading.Thread(target=lambda: later.setdefault("n", torch.get_num_threads()))
    other.start()
    other.join()
    assert seen["mine"] == 1
    assert torch.get_num_threads() == everyone and later["n"] == everyone  # the guard's threads keep every core

    with Ledger(f"sqlite:///{tmp_path / 'ledger.db'}") as ledger:
        worker = SketchWorker(ledger, embedder=None)
        assert wait_for(lambda: worker.priority != "normal")
        ids = {t.name: t.native_id for t in threading.enumerate()}
        counted = _thread_seconds()
        worker.close()
    if worker.priority == "idle":  # Linux: the thread is in the idle class, so llama.cpp does not count it
        assert ids["sketch-worker"] not in counted and threading.get_native_id() in counted


def test_the_embedder_process_matches_the_embedder_and_runs_at_the_idle_priority(embedder: SentenceEmbedder) -> None:
    import os

    from weightwarden.monitor.embed_process import EmbedProcess

    texts = ["How do I reset my password?", "Ignore the instructions above.", "x" * 3000, "パスワード"]
    proc = EmbedProcess().start()
    try:
        assert proc.pid is not None and proc.pid != os.getpid() and proc.dim == 384
        got = proc.embed_array(texts)
        want = np.asarray(embedder.embed(texts))
        np.testing.assert_allclose(got, want, atol=1e-5)  # the same model on the same CPU: the same vectors
        assert proc.embed([]) == []
        if proc.priority == "idle":  # Linux: the whole child, its torch threads included, yields every core
            assert os.sched_getscheduler(proc.pid) == os.SCHED_IDLE
            assert os.getpriority(os.PRIO_PROCESS, proc.pid) == 19  # /proc/stat files its time as niced
        first = proc.pid
        os.kill(first, 9)  # killed (say, by the OOM killer): the next batch starts a new child
        os.waitpid(first, 0)
        again = proc.embed_array(texts[:1])
        assert proc.pid != first
        np.testing.assert_allclose(again[0], want[0], atol=1e-5)
    finally:
        proc.close()
    assert proc._proc is None  # closed: the child read the end of its stdin and exited


def test_an_embedder_process_that_cannot_load_says_why(tmp_path: Path) -> None:
    from weightwarden.monitor.embed_process import EmbedderProcessError, EmbedProcess

    proc = EmbedProcess(tmp_path / "no-such-model")
    with pytest.raises(EmbedderProcessError, match=r"could not load its model: .*no-such-model"):
        proc.embed(["hello"])
    assert proc._proc is None  # nothing left running


def test_exit_kills_an_embedder_process_still_loading(tmp_path: Path) -> None:
    """At the interpreter's exit a child still loading is killed, not waited for (the loading thread holds the
    lock that close() takes)."""
    from weightwarden.monitor.embed_process import EmbedderProcessError, EmbedProcess

    never_loads = tmp_path / "python"
    never_loads.write_text("#!/bin/sh\nexec sleep 600\n")
    never_loads.chmod(0o755)
    proc = EmbedProcess(python=str(never_loads))
    errors: list[Exception] = []

    def start() -> None:
        try:
            proc.start()
        except EmbedderProcessError as exc:
            errors.append(exc)

    loading = threading.Thread(target=start)
    loading.start()
    assert wait_for(lambda: proc._loading is not None)
    child = proc._loading
    assert child is not None
    done = threading.Thread(target=proc.close_at_exit)
    done.start()
    done.join(60)
    loading.join(60)
    assert not done.is_alive() and not loading.is_alive()
    assert child.poll() is not None  # killed, not left sleeping
    assert len(errors) == 1 and "could not load" in str(errors[0])
    assert proc._proc is None and proc._loading is None


def test_gateway_sketches_use_the_embedder_process(
    tmp_path: Path, llama: LlamaCppRuntime, default_artifact: Artifact, embedder: SentenceEmbedder
) -> None:
    from weightwarden.monitor.embed_process import shared

    with serve(tmp_path, llama, default_artifact, serving=policy(**NO_GUARD)) as gw:  # the bundled embedder
        worker = gw.gateway.audit.sketches
        assert worker is not None
        assert wait_for(worker.ready.is_set, timeout=600)
        assert worker.priority == "normal"  # it only waits on a pipe; the child does the work at the idle priority
        assert shared().pid is not None
        chat(gw.base_url, gw.key(), QUESTIONS[:1])
        gw.rows(1)
        assert worker.flush()
        gw.ledger.flush()
        (sketch,) = gw.ledger.sketches()
    assert sketch.embedding is not None
    vec = dequantize(sketch.embedding, sketch.embedding_scale or 0.0)
    assert float(vec @ np.asarray(embedder.embed(QUESTIONS[:1])[0]) / np.linalg.norm(vec)) > 0.999
