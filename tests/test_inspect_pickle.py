"""Pickle scanning: every import found with the right severity, in plain pickles, zip and legacy checkpoints and
nested pickles, and nothing ever runs (a payload that would create a marker file leaves no marker)."""

from __future__ import annotations

import io
import os
import pickle
import zipfile
from pathlib import Path
from typing import Any

import pytest

from weightwarden.inspect import Severity, inspect_model
from weightwarden.inspect.pickle_scan import classify, scan_file
from weightwarden.inspect.pickle_vm import Global
from weightwarden.inspect.pytorch import inspect_pickle_file


class Payload:
    """Pickles to `func(*args)`: what an attacker's checkpoint asks the loader to call."""

    def __init__(self, func: Any, *args: Any) -> None:
        self.func, self.args = func, args

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        return self.func, self.args


def _imports(path: Path) -> dict[str, Severity]:
    _, findings, report = inspect_pickle_file(path, path.name)
    out = {}
    for _, imp in report.imports:
        name = imp.target.dotted if imp.target else "<unresolved>"
        out[name] = classify(imp.target)[0]
    assert all(f.kind.startswith("pickle") for f in findings)
    return out


@pytest.mark.parametrize("protocol", [0, 1, 2, 3, 4, 5])
def test_os_system_is_critical_in_every_protocol(tmp_path: Path, protocol: int) -> None:
    marker = tmp_path / "PWNED"
    path = tmp_path / "evil.pkl"
    path.write_bytes(
        pickle.dumps({"weights": [1.0, 2.0], "x": Payload(os.system, f"touch {marker}")}, protocol=protocol)
    )
    imports = _imports(path)
    system = f"{os.system.__module__}.system"  # posix.system here, nt.system on Windows
    assert imports[system] is Severity.CRITICAL
    ins = inspect_model(path)
    assert ins.worst is Severity.CRITICAL
    crit = [f for f in ins.findings if f.severity is Severity.CRITICAL]
    assert crit and "imports and calls" in crit[0].detail and system in crit[0].detail
    assert not marker.exists()


@pytest.mark.parametrize(
    ("func", "severity"),
    [
        (eval, Severity.CRITICAL),
        (getattr, Severity.CRITICAL),
        (__import__("subprocess").Popen, Severity.CRITICAL),
        (__import__("runpy").run_path, Severity.CRITICAL),
        (__import__("socket").create_connection, Severity.CRITICAL),
        (__import__("shutil").rmtree, Severity.CRITICAL),
        (__import__("operator").attrgetter, Severity.HIGH),
        (__import__("fractions").Fraction, Severity.MEDIUM),
        (__import__("collections").OrderedDict, Severity.INFO),
    ],
)
def test_severity_of_each_import(tmp_path: Path, func: Any, severity: Severity) -> None:
    path = tmp_path / "x.pkl"
    path.write_bytes(pickle.dumps(Payload(func, "1"), protocol=4))
    imports = _imports(path)
    assert len(imports) == 1
    assert next(iter(imports.values())) is severity


def test_stack_global_built_from_memo_is_resolved(tmp_path: Path) -> None:
    # protocol 4 spells the import as two memoized strings + STACK_GLOBAL; repeat it so the memo is read back
    path = tmp_path / "x.pkl"
    path.write_bytes(pickle.dumps([Payload(os.system, "true"), Payload(os.system, "false")], protocol=4))
    _, _, report = inspect_pickle_file(path, "x.pkl")
    ops = {imp.opcode for _, imp in report.imports}
    assert "STACK_GLOBAL" in ops
    assert all(imp.target is not None and imp.target.name == "system" for _, imp in report.imports)


def test_computed_stack_global_is_high(tmp_path: Path) -> None:
    # STACK_GLOBAL whose operands are not constants (here the result of a call): nobody can tell what it imports
    raw = b"\x80\x04" + b"\x8c\x08builtins\x8c\x03str\x93)R" + b"\x8c\x01x\x93."
    path = tmp_path / "x.pkl"
    path.write_bytes(raw)
    findings = inspect_pickle_file(path, "x.pkl")[1]
    assert any(f.severity is Severity.HIGH and "unresolved" in f.detail for f in findings)


@pytest.fixture(scope="module")
def torch_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    torch = pytest.importorskip("torch")
    d = tmp_path_factory.mktemp("torch")
    state = {
        "embed.weight": torch.nn.Parameter(torch.zeros(7, 3)),
        "norm.bias": torch.ones(3, dtype=torch.bfloat16),
        "head.weight": torch.arange(12, dtype=torch.int64).view(4, 3),
    }
    state["tied.weight"] = state["embed.weight"]
    paths = {"zip": d / "pytorch_model.bin", "legacy": d / "legacy.pt", "evil": d / "evil.pt"}
    torch.save(state, paths["zip"])
    torch.save(state, paths["legacy"], _use_new_zipfile_serialization=False)
    marker = d / "PWNED"
    torch.save({"state": state, "hook": Payload(os.system, f"touch {marker}")}, paths["evil"])
    paths["marker"] = marker
    return paths


def test_zip_checkpoint_tensor_table_matches_torch(torch_files: dict[str, Path]) -> None:
    torch = pytest.importorskip("torch")
    for kind in ("zip", "legacy"):
        report, findings, _ = inspect_pickle_file(torch_files[kind], "m")
        assert report.format == "pytorch"
        assert report.details["container"] == ("torch-zip" if kind == "zip" else "torch-legacy")
        assert not [f for f in findings if f.severity.rank <= Severity.MEDIUM.rank], findings
        # torch's own loader, on a file these tests wrote, with weights_only so it cannot run code either
        loaded = torch.load(torch_files[kind], weights_only=True)
        ours = {t["name"]: t for t in report.details["tensors"]}
        assert set(ours) == set(loaded)
        for name, tensor in loaded.items():
            assert ours[name]["shape"] == list(tensor.shape)
        assert ours["norm.bias"]["dtype"] == "BF16" and ours["head.weight"]["dtype"] == "I64"
        assert report.details["parameters"] == 7 * 3 + 3 + 12  # the tied weight counts once


def test_zip_checkpoint_with_payload_is_critical_and_inert(torch_files: dict[str, Path]) -> None:
    ins = inspect_model(torch_files["evil"])
    assert ins.format == "pytorch"
    assert ins.worst is Severity.CRITICAL
    assert any("data.pkl" in f.detail for f in ins.findings if f.severity is Severity.CRITICAL)
    assert ins.parameters == 7 * 3 + 3 + 12  # the tensors are still read
    assert not torch_files["marker"].exists()


def test_every_zip_member_and_nested_pickles_are_scanned(tmp_path: Path) -> None:
    marker = tmp_path / "PWNED"
    inner = pickle.dumps(Payload(os.system, f"touch {marker}"), protocol=2)
    nested_blob = pickle.dumps({"blob": inner}, protocol=4)  # a pickle that carries another pickle as bytes
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("archive/extra.pkl", pickle.dumps(Payload(eval, "1+1"), protocol=2))
    outer = tmp_path / "model.pt"
    with zipfile.ZipFile(outer, "w") as z:
        z.writestr("archive/data.pkl", pickle.dumps({"a": 1}, protocol=2))
        z.writestr("archive/blob.pkl", nested_blob)
        z.writestr("archive/other", inner)  # no .pkl name: found by its header
        z.writestr("archive/inner.zip", buf.getvalue())
    report = scan_file(outer)
    where = {w: imp.target.dotted for w, imp in report.imports if imp.target}
    system = f"{os.system.__module__}.system"
    assert where["archive/blob.pkl/bytes[0]"] == system
    assert where["archive/other"] == system
    assert where["archive/inner.zip!/archive/extra.pkl"] == "__builtin__.eval"  # protocol 2 spells builtins so
    assert not marker.exists()


def test_malformed_pickles_are_findings_not_tracebacks(tmp_path: Path) -> None:
    good = pickle.dumps({"a": [1, 2, 3]}, protocol=2)
    for i, raw in enumerate([good[: len(good) // 2], b"\x80\x02\xff\xfe", b"\x80\x02K\x01" + b"0" * 5 + b"."]):
        path = tmp_path / f"bad{i}.pkl"
        path.write_bytes(raw)
        ins = inspect_model(path)
        assert any(f.kind == "pickle-malformed" for f in ins.findings), (raw, ins.findings)


def test_classify_names() -> None:
    assert classify(Global("torch._utils", "_rebuild_tensor_v2"))[0] is Severity.INFO
    assert classify(Global("torch", "HalfStorage"))[0] is Severity.INFO
    assert classify(Global("os.path", "join"))[0] is Severity.CRITICAL
    assert classify(Global("torch.nn.modules.linear", "Linear"))[0] is Severity.MEDIUM
    assert classify(None)[0] is Severity.HIGH


def test_torchscript_archive_code_is_high(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    path = tmp_path / "scripted.pt"
    torch.jit.script(torch.nn.Linear(2, 3)).save(str(path))
    ins = inspect_model(path)
    assert ins.parameters == 2 * 3 + 3
    code = [f for f in ins.findings if f.kind == "custom-code"]
    assert code and code[0].severity is Severity.HIGH and "torch.jit.load" in code[0].detail
