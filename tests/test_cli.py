"""The `warden` command end to end, in a subprocess: help, version, generate, audit, and every bad input."""

from __future__ import annotations

import json
import re
import socket
from pathlib import Path

import pytest

from greedy import NOISE, answer_gap, chat_ids
from weightwarden import __version__
from weightwarden.ledger import Ledger
from weightwarden.runtimes import Message
from weightwarden.runtimes.llamacpp import LlamaCppRuntime


@pytest.mark.slow
def test_version(cli) -> None:  # type: ignore[no-untyped-def]
    r = cli("--version")
    assert r.code == 0 and r.out.strip() == f"weightwarden {__version__}"


@pytest.mark.slow
@pytest.mark.parametrize("command", ["models", "generate", "chat", "audit"])
def test_every_command_explains_its_options(cli, command: str) -> None:  # type: ignore[no-untyped-def]
    r = cli(command, "--help")
    assert r.code == 0
    assert "--help" in r.out
    if command in ("generate", "chat", "audit"):
        assert "--backend" in r.out and "openai:URL#model" in r.out


@pytest.mark.slow
def test_generate_json(cli, llama: LlamaCppRuntime) -> None:  # type: ignore[no-untyped-def]
    question = "Which city is the capital of France?"
    r = cli("generate", "default", question, "--json", "--max-tokens", "16")
    assert r.code == 0, r.err
    out = json.loads(r.out)
    assert out["runtime"] == "llama.cpp" and len(out["sha256"]) == 64
    assert out["text"].strip() and 0 < out["usage"]["completion_tokens"] <= 16
    assert out["usage"]["prompt_tokens"] == len(chat_ids(llama, question))
    assert (out["finish_reason"] == "length") == (out["usage"]["completion_tokens"] == 16)
    # Another process (maybe with other threads): judge the answer by the model's logits, not by its words.
    # Without the chat template, or sampling instead of greedy, some token would miss the top by whole logits.
    assert answer_gap(llama, chat_ids(llama, question), out["text"]) < NOISE


@pytest.mark.slow
def test_generate_reads_stdin_and_is_repeatable(cli) -> None:  # type: ignore[no-untyped-def]
    a = cli(
        "generate", "default", "-", "--max-tokens", "12", "--temperature", "0.8", "--seed", "3", stdin="Name a bird."
    )
    b = cli(
        "generate", "default", "-", "--max-tokens", "12", "--temperature", "0.8", "--seed", "3", stdin="Name a bird."
    )
    assert a.code == b.code == 0
    assert a.out == b.out and a.out.strip()


@pytest.mark.slow
def test_chat_session_with_commands(cli, llama: LlamaCppRuntime) -> None:  # type: ignore[no-untyped-def]
    script = "Which city is the capital of France?\n/system Reply in French.\n/reset\n/bogus\nSay hi.\n/exit\n"
    r = cli("chat", "default", "--max-tokens", "16", stdin=script)
    assert r.code == 0, r.err
    assert "system prompt set" in r.out and "conversation forgotten" in r.out and "unknown command /bogus" in r.out
    first = re.search(r"^> (.+?)\n> system prompt set", r.out, re.S | re.M)
    last = re.search(r"unknown command /bogus[^\n]*\n> (.+)\n> $", r.out, re.S)
    assert first and last, r.out
    # Each answer is greedy for the conversation it should have had: the first alone; the last after the system
    # prompt that /system set (restarting the conversation) and /reset kept. Judged by the model's logits, as the
    # CLI ran in another process; an answer made for another conversation misses the top choice somewhere.
    assert answer_gap(llama, chat_ids(llama, "Which city is the capital of France?"), first[1]) < NOISE
    kept = llama.render([Message("system", "Reply in French."), Message("user", "Say hi.")])
    assert answer_gap(llama, llama.tokenize(kept, add_special=True), last[1]) < NOISE


@pytest.mark.slow
def test_audit_writes_report_and_ledger_run(cli, home: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    planted = "The lighthouse keeper counted forty-one gulls on the north rail before the fog came down at noon."
    train = tmp_path / "corpus"
    train.mkdir()
    (train / "notes.txt").write_text(f"Log of the week. {planted} Then the supply boat arrived late.\n")
    bench = tmp_path / "bench.jsonl"
    fresh = "Which metal is liquid at room temperature? Answer with one word."
    bench.write_text(
        json.dumps({"id": "seen", "text": planted}) + "\n" + json.dumps({"id": "new", "text": fresh}) + "\n"
    )
    r = cli("audit", "default", "--quick", "--train", str(train), "--bench", str(bench))
    assert r.code == 0, r.err
    assert "report:" in r.out
    # no terminal (as under `make demo | tee`): a progress line on stderr as each stage starts, and per eval task
    stages = [line for line in r.err.splitlines() if line.startswith("audit default: stage ")]
    assert stages[0].startswith("audit default: stage 1/") and any(" eval " in line for line in stages), r.err
    reports = list((tmp_path / "warden-report").glob("*/report.json"))
    assert len(reports) == 1
    report = json.loads(reports[0].read_text())
    assert report["status"] == "ok"
    stages = {s["key"]: s for s in report["stages"]}
    assert set(stages) >= {"facts", "smoke", "loglikelihood", "speed", "guard", "provenance"}
    guard = stages["guard"]["data"]
    # build-time figures with their provenance, and the built-in sample scored live (issue 11)
    assert guard["figures"] == "build time" and guard["measured_at"] and not guard["live_check"]["problems"]
    assert guard["measured_on"] == guard["encoder_sha256"], "committed guard figures were measured on other weights"
    assert {row["detector"] for row in stages["guard"]["rows"]} == {"injection", "jailbreak", "harmful"}
    prov = stages["provenance"]
    assert prov["data"]["watermark"]["marked"]["verdict"] == "watermarked"
    assert prov["data"]["watermark"]["unmarked"]["verdict"] != "watermarked"
    assert prov["status"] == "warn", "a planted benchmark item must make the contamination check warn"
    verdicts = {row["id"]: row["verdict"] for row in prov["rows"] if "id" in row}
    assert verdicts == {"seen": "contaminated"}, prov["rows"]
    assert stages["facts"]["data"]["license"] == "apache-2.0"
    assert stages["smoke"]["data"]["deterministic"] is True
    assert stages["speed"]["data"]["generation_tokens_per_s"] > 0
    html = (reports[0].parent / "report.html").read_text()
    assert report["model"]["sha256"] in html and "Smoke generations" in html
    with Ledger(f"sqlite:///{home / 'ledger.db'}") as ledger:
        runs = ledger.runs(kind="audit")
        assert len(runs) == 1 and runs[0].status == "ok" and runs[0].model_hash == report["model"]["sha256"]
        assert len(ledger.items(runs[0].id)) == 4
    # Rendered again from the ledger alone, later and elsewhere: the very bytes the audit wrote.
    again = cli("report", runs[0].id, "--out", str(tmp_path / "again"))
    assert again.code == 0, again.err
    for name in ("report.html", "report.json"):
        assert (tmp_path / "again" / name).read_bytes() == (reports[0].parent / name).read_bytes(), name
    listed = json.loads(cli("models", "--json").out)
    assert listed[0]["ref"] == "default"
    assert any(m["hash"] == report["model"]["sha256"] for m in listed[1:])


@pytest.mark.slow
def test_audit_train_without_bench_is_refused(cli) -> None:  # type: ignore[no-untyped-def]
    r = cli("audit", "default", "--train", "somewhere")
    assert r.code == 2 and "--bench" in r.err


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _truncated(tmp_path: Path) -> str:
    from weightwarden.runtimes.artifact import default_model_path

    f = tmp_path / "cut.gguf"
    f.write_bytes(default_model_path().read_bytes()[: 20 << 20])
    return str(f)


def _no_weights(tmp_path: Path) -> str:
    d = tmp_path / "empty-model"
    d.mkdir()
    (d / "config.json").write_text("{}")
    return str(d)


def _garbage_gguf(tmp_path: Path) -> str:
    f = tmp_path / "junk.gguf"
    f.write_bytes(b"GGUF" + b"\xff" * 64)
    return str(f)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("make_ref", "words"),
    [
        (lambda p: str(p / "missing.gguf"), "no such file"),
        (_no_weights, "without"),
        (_truncated, "truncated"),
        (_garbage_gguf, "GGUF"),
        (lambda p: "ftp://example/model", "unknown model scheme"),
        (lambda p: f"openai:http://127.0.0.1:{_free_port()}/v1#m", "cannot reach"),
    ],
    ids=["missing", "no-weights", "truncated", "corrupt", "scheme", "unreachable"],
)
@pytest.mark.parametrize("command", ["generate", "audit"])
def test_bad_models_give_one_line_and_exit_2(cli, tmp_path: Path, make_ref, words: str, command: str) -> None:  # type: ignore[no-untyped-def]
    args = ["generate", make_ref(tmp_path), "hi"] if command == "generate" else ["audit", make_ref(tmp_path)]
    r = cli(*args)
    assert r.code == 2, (r.out, r.err)
    assert words in r.err
    assert "Traceback" not in r.err
    assert r.err.strip().startswith("error:")
    assert len(r.err.strip().splitlines()) <= 3  # one message, wrapped at most by the terminal width


@pytest.mark.slow
def test_bad_option_value_is_a_usage_error(cli) -> None:  # type: ignore[no-untyped-def]
    r = cli("generate", "default", "hi", "--backend", "vllm-magic")
    assert r.code == 2 and "unknown backend" in r.err and "Traceback" not in r.err
