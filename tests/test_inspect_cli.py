"""`warden inspect`, `bom`, `sign` and `verify` end to end in a subprocess (real exit codes, real stderr), the
ledger record, and the audit stage."""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from weightwarden.errors import ModelNotFound, UnsupportedModel
from weightwarden.inspect import inspect_model
from weightwarden.ledger import Ledger
from weightwarden.runtimes import Artifact
from weightwarden.runtimes.artifact import embedder_path


@dataclass
class Result:
    code: int
    out: str
    err: str


@pytest.fixture
def warden(home: Path, tmp_path: Path):  # type: ignore[no-untyped-def]
    def run(*args: str) -> Result:
        env = {**os.environ, "WARDEN_HOME": str(home), "COLUMNS": "200", "NO_COLOR": "1"}
        proc = subprocess.run(
            [sys.executable, "-m", "weightwarden.cli.main", *args],
            capture_output=True,
            text=True,
            timeout=300,
            env=env,
            cwd=tmp_path,
        )
        return Result(proc.returncode, proc.stdout, proc.stderr)

    return run


class Payload:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return os.system, (f"touch {self.marker}",)


@pytest.mark.slow
def test_inspect_json_keys_verdict_and_ledger(warden, home: Path, default_artifact: Artifact) -> None:  # type: ignore[no-untyped-def]
    r = warden("inspect", "default", "--json", "--use", "commercial", "--users", "2000000", "--distribute")
    assert r.code == 0, r.err
    out = json.loads(r.out)
    for key in ("sha256", "format", "architecture", "parameters", "quantization", "license", "findings"):
        assert key in out
    assert out["sha256"] == default_artifact.sha256 and out["format"] == "gguf"
    assert out["license"]["id"] == "apache-2.0"
    assert out["use"]["verdict"] == "allowed-with-obligations"
    assert all(set(f) >= {"severity", "kind", "detail"} for f in out["findings"])
    with Ledger(f"sqlite:///{home / 'ledger.db'}") as ledger:
        runs = ledger.runs(kind="inspect")
        assert len(runs) == 1 and runs[0].id == out["run_id"] and runs[0].status == "ok"
        assert runs[0].model_hash == default_artifact.sha256
        assert runs[0].summary is not None and runs[0].summary["parameters"] == 134_515_008
        items = ledger.items(runs[0].id)
        assert len(items) == len(out["findings"])
        assert {it.scores["severity"] for it in items} == {f["severity"] for f in out["findings"]}


@pytest.mark.slow
def test_inspect_terminal_summary(warden) -> None:  # type: ignore[no-untyped-def]
    r = warden("inspect", str(embedder_path()), "--use", "research", "--no-ledger")
    assert r.code == 0, r.err
    for text in ("all-MiniLM-L6-v2", "22,713,728", "License", "verdict", "Lineage", "Findings", "disagree"):
        assert text in r.out, text


@pytest.mark.slow
def test_malicious_pickle_exits_1_and_never_runs(warden, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    marker = tmp_path / "PWNED"
    model = tmp_path / "pytorch_model.bin"
    model.write_bytes(pickle.dumps({"w": [0.0], "x": Payload(marker)}, protocol=2))
    r = warden("inspect", str(model))
    assert r.code == 1, r.err
    assert "critical" in r.out and "system" in r.out
    assert "critical finding" in r.err
    assert not marker.exists()


@pytest.mark.slow
def test_errors_exit_2_without_traceback(warden, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    text = tmp_path / "notes.txt"
    text.write_text("not a model")
    for args, words in (
        (("inspect", str(text)), "not a model file"),
        (("verify", "default", "--pub", str(text)), "no signature"),
    ):
        r = warden(*args)
        assert r.code == 2, (args, r.out, r.err)
        assert words in r.err and "Traceback" not in r.err
    r = warden("inspect", "default", "--users", "5")
    assert r.code == 2 and "--use" in r.err


@pytest.mark.parametrize(
    ("ref", "error", "words"),
    [
        ("missing.gguf", ModelNotFound, "no such file"),
        ("openai:http://127.0.0.1:9/v1#m", UnsupportedModel, "remote model"),
    ],
)
def test_refs_that_name_nothing_to_inspect(ref: str, error: type[Exception], words: str) -> None:
    with pytest.raises(error, match=words):
        inspect_model(ref)


@pytest.mark.slow
def test_help_documents_exit_codes(warden) -> None:  # type: ignore[no-untyped-def]
    r = warden("inspect", "--help")
    assert r.code == 0 and "Exit status" in r.out and "critical" in r.out and "--distribute" in r.out


@pytest.mark.slow
def test_bom_sign_verify_commands(warden, tmp_path: Path, default_artifact: Artifact) -> None:  # type: ignore[no-untyped-def]
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP384R1())
    (tmp_path / "key.pem").write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    (tmp_path / "pub.pem").write_bytes(
        key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    model = tmp_path / "m.gguf"
    assert default_artifact.path is not None
    model.write_bytes(default_artifact.path.read_bytes())
    r = warden("bom", str(model), "-o", "bom.json")
    assert r.code == 0, r.err
    assert json.loads((tmp_path / "bom.json").read_text())["specVersion"] == "1.6"
    r = warden("sign", str(model), "--key", "key.pem", "--bom", "bom.json", "-o", "m.sig")
    assert r.code == 0, r.err
    r = warden("verify", str(model), "--pub", "pub.pem", "--bom", "bom.json", "--signature", "m.sig")
    assert r.code == 0 and "verified" in r.out, r.err
    with model.open("r+b") as fh:
        fh.seek(1_000_000)
        byte = fh.read(1)
        fh.seek(1_000_000)
        fh.write(bytes([byte[0] ^ 0xFF]))
    r = warden("verify", str(model), "--pub", "pub.pem", "--bom", "bom.json", "--signature", "m.sig")
    assert r.code == 1 and "changed since signing" in r.err
