"""The audit pipeline on the real default model: every registered stage, what it stores, and re-rendering from the
ledger alone (`warden report RUN_ID` gives the bytes the audit wrote)."""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from blind_guard import BlindGuard
from weightwarden.audit import STAGES, AuditContext, AuditRun, StageResult, run_audit
from weightwarden.audit.stages.guard import Guard, guard_quality
from weightwarden.audit.stages.inspect import Inspect
from weightwarden.audit.stages.provenance import Provenance
from weightwarden.config import load_settings
from weightwarden.ledger import Ledger
from weightwarden.report import audit_document, render_run
from weightwarden.report.render import RENDERERS
from weightwarden.runtimes import Artifact, resolve
from weightwarden.runtimes.artifact import embedder_path
from weightwarden.runtimes.llamacpp import LlamaCppRuntime
from weightwarden.watermark import fingerprint

LEARNED = ("injection", "jailbreak", "harmful")


@dataclass
class Audited:
    db: Path
    run: AuditRun
    folder: Path  # where the report was rendered right after the audit, as `warden audit` does


@pytest.fixture(scope="module")
def audited(
    tmp_path_factory: pytest.TempPathFactory, default_artifact: Artifact, llama: LlamaCppRuntime
) -> Iterator[Audited]:
    """One quick audit of the default model (one eval item per task) into a fresh ledger, and its report."""
    root = tmp_path_factory.mktemp("audit")
    db = root / "ledger.db"
    with Ledger(f"sqlite:///{db}") as ledger:
        run = run_audit(default_artifact, llama, ledger, quick=True, eval_limit=1)
        render_run(ledger, run.run_id, root / "report", formats=("json", "html"))
    yield Audited(db, run, root / "report")


def warden(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "WARDEN_HOME": str(home), "COLUMNS": "200", "NO_COLOR": "1"}
    cmd = [sys.executable, "-m", "weightwarden.cli.main", *args]
    return subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=home.parent, timeout=300)


# -- the registry's contract -----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(STAGES))
def test_every_registered_stage_is_described_and_runs_on_the_default_model(name: str, audited: Audited) -> None:
    stage = STAGES[name]
    assert stage.name == name and stage.title and stage.title != name.lower()
    assert len(stage.description.split()) >= 6 and stage.description.rstrip().endswith((".", ")"))
    (result,) = [r for r in audited.run.results if r.key == name]
    assert isinstance(result, StageResult) and result.title == stage.title
    assert result.status in ("ok", "warn"), f"{name} on the default model: {result.summary}"
    assert result.summary
    assert all(list(row) == list(result.rows[0]) for row in result.rows), "a table's rows share their columns"
    assert StageResult.from_json(result.to_json()) == result  # stored and read back, nothing is lost


def test_the_audit_stores_every_stage_in_order_and_finishes_its_run(audited: Audited) -> None:
    with Ledger(f"sqlite:///{audited.db}") as ledger:
        stored = ledger.stage_results(audited.run.run_id)
        run = ledger.run(audited.run.run_id)
    assert [s.stage for s in stored] == list(STAGES) == [r.key for r in audited.run.results]
    assert [s.result for s in stored] == [r.to_json() for r in audited.run.results]
    assert run is not None and run.kind == "audit" and run.status == audited.run.status == "ok"
    assert run.ended_at is not None and run.config["model"]["sha256"] == run.model_hash
    assert set(run.summary["stages"]) == set(STAGES)  # type: ignore[index]


def test_facts_come_from_the_inspection_read_once(audited: Audited, default_artifact: Artifact) -> None:
    results = {r.key: r for r in audited.run.results}
    facts, inspection = results["facts"].data, results["inspect"].data
    assert facts["license"] == "apache-2.0" and facts["architecture"] == inspection["architecture"] == "llama"
    assert facts["parameters"] == inspection["parameters"] and facts["has_chat_template"] is True
    assert facts["sha256"] == inspection["sha256"] == default_artifact.sha256


# -- re-rendering from the ledger ------------------------------------------------------------------------------


@pytest.mark.slow
def test_warden_report_rerenders_the_audit_byte_for_byte(audited: Audited, tmp_path: Path) -> None:
    home = tmp_path / "home"
    again = tmp_path / "again"
    r = warden(home, "report", audited.run.run_id, "--db", str(audited.db), "--out", str(again))
    assert r.returncode == 0, r.stderr
    for name in ("report.html", "report.json"):
        assert (again / name).read_bytes() == (audited.folder / name).read_bytes(), name
        assert f"report: {again / name}" in r.stdout
    doc = json.loads((again / "report.json").read_text())
    assert doc["run_id"] == audited.run.run_id and [s["key"] for s in doc["stages"]] == list(STAGES)
    html = (again / "report.html").read_text()
    assert html.count("<svg") == 4 and "<script" not in html and "safety (95% intervals)" in html
    assert doc["started_at"] in html and doc["model"]["sha256"] in html


@pytest.mark.slow
def test_warden_report_writes_short_markdown(audited: Audited, tmp_path: Path) -> None:
    r = warden(tmp_path / "home", "report", audited.run.run_id, "--db", str(audited.db), "--format", "md",
               "--out", str(tmp_path / "md"), "--json")  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["paths"] == {"md": str(tmp_path / "md" / "report.md")}
    md = (tmp_path / "md" / "report.md").read_text()
    assert md.startswith("# Audit of ") and audited.run.run_id in md
    assert "| stage | status | seconds | summary |" in md and "| Smoke generations | ok |" in md
    assert len(md.splitlines()) == 9 + len(STAGES)
    assert not (tmp_path / "md" / "report.html").exists()


@pytest.mark.slow
def test_warden_report_refuses_an_unknown_run_and_a_run_that_is_not_an_audit(audited: Audited, tmp_path: Path) -> None:
    db = ["--db", str(audited.db), "--out", str(tmp_path / "out")]
    unknown = warden(tmp_path / "home", "report", "01NOSUCHRUN0000000000000000", *db)
    assert unknown.returncode == 2 and "no run '01NOSUCHRUN0000000000000000'" in unknown.stderr
    assert "Traceback" not in unknown.stderr
    eval_run = next(r.data["run_id"] for r in audited.run.results if r.key == "eval")
    other = warden(tmp_path / "home", "report", eval_run, *db)
    assert other.returncode == 2 and "is an eval run, not an audit" in other.stderr
    assert not (tmp_path / "out").exists()


def test_every_report_format_renders_from_the_ledger_alone(audited: Audited) -> None:
    with Ledger(f"sqlite:///{audited.db}") as ledger:
        doc = audit_document(ledger, audited.run.run_id)
    for fmt, render in RENDERERS.items():
        assert render(doc) == render(json.loads(json.dumps(doc))), fmt  # plain JSON in, the same text out


# -- single stages on other inputs -----------------------------------------------------------------------------


class Payload:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return os.system, (f"touch {self.marker}",)


def test_inspect_stage_on_good_remote_disagreeing_and_malicious_models(
    default_artifact: Artifact, llama: LlamaCppRuntime, tmp_path: Path
) -> None:
    with Ledger(f"sqlite:///{tmp_path / 'ledger.db'}") as ledger:

        def inspect(art: Artifact) -> StageResult:
            return Inspect().run(AuditContext(art, llama, ledger, "unused"))

        stage = inspect(default_artifact)
        assert stage.status == "ok"
        assert "llama" in stage.summary and "apache-2.0" in stage.summary
        assert stage.data["sha256"] == default_artifact.sha256
        assert {"severity", "kind", "detail", "file"} <= set(stage.rows[0])
        assert ledger.run(stage.data["run_id"]) is not None
        assert inspect(resolve(str(embedder_path()))).status == "warn"  # the two licenses disagree
        remote = inspect(resolve("openai:http://127.0.0.1:9/v1#m"))
        assert remote.status == "warn" and "remote" in remote.summary
        evil = tmp_path / "evil"
        evil.mkdir()
        (evil / "config.json").write_text("{}")
        (evil / "pytorch_model.bin").write_bytes(pickle.dumps(Payload(tmp_path / "PWNED"), protocol=2))
        art = Artifact(ref=str(evil), format="hf", name="evil", sha256="0" * 64, size_bytes=1, path=evil)
        assert inspect(art).status == "fail"
    assert not (tmp_path / "PWNED").exists()


def test_provenance_stage_round_trips_the_configured_watermark_key(
    default_artifact: Artifact, llama: LlamaCppRuntime, tmp_path: Path
) -> None:
    secret = "audit-key-0123456789abcdef"
    s = load_settings(env={"WARDEN_HOME": str(tmp_path), "WARDEN_WATERMARK_KEY": secret})
    with Ledger(f"sqlite:///{tmp_path / 'ledger.db'}") as ledger:
        stage = Provenance().run(AuditContext(default_artifact, llama, ledger, "unused", settings=s))
    assert stage.status == "ok", stage.summary
    mark = stage.data["watermark"]
    assert mark["marked"]["verdict"] == "watermarked" and mark["unmarked"]["verdict"] != "watermarked"
    assert mark["watermark"]["key_fingerprint"] == fingerprint(secret.encode())
    assert "no training corpus given" in stage.summary and stage.data["contamination"]["self_check"]["passed"]
    assert secret not in json.dumps(stage.to_json())
    assert {r["check"] for r in stage.rows} == {"watermark", "contamination"}


def test_guard_stage_reports_build_time_figures_with_provenance_and_a_live_sample() -> None:
    stage = Guard().run()
    d = stage.data
    assert stage.status in ("ok", "warn"), stage.summary
    assert d["figures"] == "build time" and d["measured_at"] and d["training_sources"] and d["held_out_sources"]
    assert d["measured_on"] == d["encoder_sha256"] and d["measured_code"] == d["code_sha256"]
    assert "build-time figures" in stage.summary and "live sample now" in stage.summary
    live = d["live_check"]
    assert live["texts"] == live["attacks"] + live["benign"] >= 20 and not live["problems"]
    assert {r["detector"] for r in stage.rows} == set(LEARNED)


def test_guard_stage_fails_when_the_live_sample_disagrees() -> None:
    blind = BlindGuard()
    stage = Guard(blind).run()
    assert blind.calls and stage.status == "fail" and "FAILED" in stage.summary
    assert any("recall" in p for p in stage.data["problems"])


def test_guard_stage_fails_when_the_weights_are_not_the_ones_measured(monkeypatch: pytest.MonkeyPatch) -> None:
    import weightwarden.guard.quality as q

    monkeypatch.setattr(q, "encoder_sha256", lambda: "0" * 64)
    status, summary, _, _ = guard_quality()
    assert status == "fail" and "not the ones measured" in summary


def test_the_renderer_loads_no_work_code() -> None:
    # report/ reads the ledger and the typed records; it must never pull in a stage that runs work.
    code = (
        "import sys, weightwarden.report, weightwarden.report.render\n"
        "work = ('eval', 'guard', 'inspect', 'provenance', 'runtimes', 'watermark', 'audit.stages', 'audit.pipeline')\n"
        "print([m for m in sys.modules if m.startswith(tuple('weightwarden.' + w for w in work))])\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_lineage_stage_shows_a_tuned_model_against_its_base(tmp_path: Path, default_artifact: Artifact) -> None:
    """A tune's model row, run and proof event (as `warden tune` writes them) become the audit's comparison."""
    from weightwarden.audit.stages.lineage import Lineage
    from weightwarden.ledger import ModelRecord

    tuned_sha = "ab" * 32
    tuned = Artifact("tuned.gguf", "gguf", "tuned.gguf", tuned_sha, 1, tmp_path / "tuned.gguf")
    with Ledger(f"sqlite:///{tmp_path / 'ledger.db'}") as ledger:
        ctx = AuditContext(tuned, None, ledger, "run-x")  # type: ignore[arg-type]  # the stage never runs the model
        ledger.upsert_model(ModelRecord(tuned_sha, "tuned", "gguf", 1))
        assert Lineage().run(ctx).status == "ok"  # not a tune: nothing to compare
        ledger.upsert_model(ModelRecord.of(default_artifact))
        run_id = ledger.start_run("tune", default_artifact.sha256, {})
        ledger.finish_run(run_id, "ok", {"steps": 5, "tokens_seen": 900, "energy": {"kwh": 0.001, "source": "rapl"}})
        lineage = {
            "base_model": {"sha256": default_artifact.sha256, "name": "base.gguf"},
            "dataset": {"sha256": "cd" * 32, "name": "train.jsonl", "source": "ours", "license": "CC0-1.0"},
            "tune_run": run_id,
        }
        ledger.upsert_model(ModelRecord(tuned_sha, "tuned", "gguf", 1, {"lineage": lineage}))
        ledger.upsert_model(ModelRecord.of(tuned))  # an eval of the tuned model later keeps the lineage
        no_proof = Lineage().run(ctx)
        assert no_proof.status == "warn" and "no comparison against the base" in no_proof.summary
        gate = {"metric": "quality.acc", "max_drop": 0.02, "drop": 0.05, "p_value": 0.01, "n": 40, "passed": False}
        niche = {"niche.q.exact_match": {"base": 0.1, "tuned": 0.8, "delta": 0.7, "p": 0.0001, "n": 100}}
        proof = {"base_run": "b1", "tuned_run": "t1", "passed": False, "gates": [gate], "niche": niche}
        ledger.add_event("tune.proof", proof, run_id=run_id)
        got = Lineage().run(ctx)
    assert got.status == "fail" and "quality.acc failed" in got.summary and "b1 vs t1" in got.summary
    text = json.dumps(got.rows)
    assert default_artifact.sha256 in text and "CC0-1.0" in text and "0.1 -> 0.8" in text and "rapl" in text
