"""GGUF, safetensors and ONNX readers against real files and files built to break them: facts must match the
formats' own libraries, and every broken structure must be a finding with the right severity, never a traceback."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np
import pytest

from weightwarden.inspect import Severity, inspect_model
from weightwarden.inspect.onnx import inspect_onnx
from weightwarden.inspect.safetensors import inspect_safetensors
from weightwarden.runtimes import Artifact
from weightwarden.runtimes.artifact import embedder_path


def _kinds(findings: list, severity: Severity) -> list[str]:  # type: ignore[type-arg]
    return [f.detail for f in findings if f.severity is severity]


# -- GGUF ------------------------------------------------------------------------------------------------


def test_default_gguf_facts(default_artifact: Artifact) -> None:
    ins = inspect_model("default")
    assert ins.sha256 == default_artifact.sha256
    assert ins.format == "gguf" and ins.architecture == "llama"
    assert ins.parameters == 134_515_008
    assert ins.quantization == {"Q4_1": 210, "F32": 61, "Q8_0": 1}
    assert ins.context_length == 8192
    assert ins.license["id"] == "apache-2.0"
    assert "general.license" in ins.metadata and "tokenizer.ggml.tokens" in ins.metadata
    gguf = ins.files[0].details
    assert gguf["tensor_count"] == 272 and len(gguf["tensors"]) == 272 and gguf["file_type"] == "Q4_1"
    assert ins.chat_template["present"]
    assert ins.worst is not None and ins.worst.rank >= Severity.LOW.rank  # nothing medium or worse


def test_truncated_gguf_is_a_high_structure_finding(default_artifact: Artifact, tmp_path: Path) -> None:
    assert default_artifact.path is not None
    data = default_artifact.path.read_bytes()
    for cut in (100, 3_000_000, len(data) - 1000):  # inside the header, the tensor table, the last tensor
        path = tmp_path / f"cut{cut}.gguf"
        path.write_bytes(data[:cut])
        ins = inspect_model(path)
        structure = [f for f in ins.findings if f.kind == "structure"]
        assert structure and structure[0].severity is Severity.HIGH, ins.findings
        assert "truncated" in structure[0].detail or "ends inside" in structure[0].detail


def _write_gguf(path: Path, template: str, license_name: str) -> None:
    import gguf

    w = gguf.GGUFWriter(str(path), "llama")
    w.add_name("tiny")
    w.add_string("general.license", license_name)
    w.add_chat_template(template)
    w.add_context_length(64)
    w.add_tensor("tok_embd.weight", np.zeros((8, 4), dtype=np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def test_gguf_with_sandbox_escape_template_is_critical_and_inert(tmp_path: Path) -> None:
    marker = tmp_path / "PWNED"
    template = (
        "{% for x in ().__class__.__base__.__subclasses__() %}{% if 'warning' in x.__name__ %}"
        "{{ x()._module.__builtins__['__import__']('os').system('touch " + str(marker) + "') }}"
        "{% endif %}{% endfor %}{{ messages[0]['content'] }}"
    )
    path = tmp_path / "evil.gguf"
    _write_gguf(path, template, "llama3.1")
    ins = inspect_model(path)
    assert ins.parameters == 32 and ins.architecture == "llama" and ins.context_length == 64
    assert ins.license["id"] == "llama3.1"
    critical = _kinds(ins.findings, Severity.CRITICAL)
    assert any("__class__" in d for d in critical)
    assert any("unsafe operation" in d for d in critical)
    assert not marker.exists()


# -- safetensors ----------------------------------------------------------------------------------------


def test_safetensors_header_matches_the_safetensors_library() -> None:
    from safetensors import safe_open

    path = embedder_path() / "model.safetensors"
    report, findings = inspect_safetensors(path, path.name)
    assert findings == []
    ours = {t["name"]: t for t in report.details["tensors"]}
    total = 0
    with safe_open(str(path), framework="numpy") as f:
        assert set(f.keys()) == set(ours)
        for name in f.keys():  # noqa: SIM118 - safe_open is not iterable
            sl = f.get_slice(name)
            assert ours[name]["shape"] == list(sl.get_shape())
            assert ours[name]["dtype"] == sl.get_dtype()
            total += int(np.prod(sl.get_shape()))
        assert report.details["metadata"] == (f.metadata() or {})
    assert report.details["parameters"] == total


def _safetensors(path: Path, header: dict, data: bytes, length: int | None = None) -> Path:  # type: ignore[type-arg]
    raw = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(raw) if length is None else length) + raw + data)
    return path


@pytest.mark.parametrize(
    ("header", "data", "length", "words"),
    [
        ({}, b"", 1 << 40, "over the"),  # the length prefix claims a 1 TB header
        (
            {"w": {"dtype": "F32", "shape": [262144, 1048576], "data_offsets": [0, 1 << 40]}},
            b"\0" * 64,
            None,
            "truncated",
        ),
        ({"w": {"dtype": "F32", "shape": [4], "data_offsets": [0, 8]}}, b"\0" * 8, None, "needs 16 bytes"),
        (
            {
                "a": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]},
                "b": {"dtype": "F32", "shape": [4], "data_offsets": [8, 24]},
            },
            b"\0" * 24,
            None,
            "overlap",
        ),
        ({"w": {"dtype": "X99", "shape": [1], "data_offsets": [0, 1]}}, b"\0", None, "unknown dtype"),
        ({}, b"", 50, "file has"),
    ],
)
def test_broken_safetensors_are_high_findings(
    tmp_path: Path, header: dict, data: bytes, length: int | None, words: str
) -> None:  # type: ignore[type-arg]
    path = _safetensors(tmp_path / "m.safetensors", header, data, length)
    ins = inspect_model(path)
    high = _kinds(ins.findings, Severity.HIGH)
    assert any(words in d for d in high), ins.findings


def test_safetensors_gap_is_medium(tmp_path: Path) -> None:
    header = {"w": {"dtype": "F16", "shape": [2], "data_offsets": [4, 8]}}
    ins = inspect_model(_safetensors(tmp_path / "m.safetensors", header, b"EVIL" + b"\0" * 4))
    assert any("belong to no tensor" in d for d in _kinds(ins.findings, Severity.MEDIUM))


def test_sharded_folder_sums_shards_and_checks_the_index(tmp_path: Path) -> None:
    from safetensors.numpy import save_file

    folder = tmp_path / "sharded"
    folder.mkdir()
    save_file({"a": np.zeros((3, 4), np.float32)}, str(folder / "model-00001-of-00002.safetensors"))
    save_file({"b": np.zeros((5,), np.float16)}, str(folder / "model-00002-of-00002.safetensors"))
    index = {
        "metadata": {"total_size": 58},
        "weight_map": {
            "a": "model-00001-of-00002.safetensors",
            "b": "model-00002-of-00002.safetensors",
            "c": "model-00003-of-00002.safetensors",
        },
    }
    (folder / "model.safetensors.index.json").write_text(json.dumps(index))
    (folder / "config.json").write_text(json.dumps({"model_type": "tiny", "max_position_embeddings": 128}))
    ins = inspect_model(folder)
    assert ins.format == "hf" and ins.architecture == "tiny" and ins.context_length == 128
    assert ins.parameters == 12 + 5
    assert ins.quantization == {"F32": 1, "F16": 1}
    assert any("model-00003-of-00002.safetensors, which is missing" in d for d in _kinds(ins.findings, Severity.MEDIUM))


# -- ONNX -----------------------------------------------------------------------------------------------


def _onnx_model(external: str | None = None, custom: bool = False):  # type: ignore[no-untyped-def]
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper, numpy_helper

    w = numpy_helper.from_array(np.ones((4, 3), np.float32), "W")
    b = numpy_helper.from_array(np.zeros((3,), np.float32), "B")
    if external:
        w.data_location = TensorProto.EXTERNAL
        w.ClearField("raw_data")
        entry = w.external_data.add()
        entry.key, entry.value = "location", external
    nodes = [helper.make_node("MatMul", ["x", "W"], ["y"]), helper.make_node("Add", ["y", "B"], ["z"])]
    opsets = [helper.make_opsetid("", 17)]
    if custom:
        nodes.append(helper.make_node("Decrypt", ["z"], ["q"], domain="com.vendor"))
        opsets.append(helper.make_opsetid("com.vendor", 1))
    out = "q" if custom else "z"
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
        [helper.make_tensor_value_info(out, TensorProto.FLOAT, [1, 3])],
        [w, b],
    )
    return onnx, helper.make_model(graph, opset_imports=opsets, producer_name="weightwarden-test")


def test_onnx_facts_match_the_onnx_package(tmp_path: Path) -> None:
    onnx, model = _onnx_model()
    path = tmp_path / "m.onnx"
    onnx.save(model, str(path))
    report, findings = inspect_onnx(path, path.name)
    loaded = onnx.load(str(path))
    assert findings == []
    assert report.details["opset"] == {o.domain: o.version for o in loaded.opset_import}
    assert report.details["ir_version"] == loaded.ir_version
    assert report.details["nodes"] == len(loaded.graph.node)
    assert report.details["parameters"] == sum(int(np.prod(t.dims)) for t in loaded.graph.initializer)
    assert report.details["producer"] == "weightwarden-test"
    assert inspect_model(path).format == "onnx"


def test_onnx_custom_ops_and_escaping_external_data(tmp_path: Path) -> None:
    onnx, model = _onnx_model(external="../../etc/passwd", custom=True)
    path = tmp_path / "m.onnx"
    onnx.save(model, str(path))
    ins = inspect_model(path)
    assert any("outside the model folder" in d for d in _kinds(ins.findings, Severity.HIGH))
    assert any("com.vendor::Decrypt" in d for d in _kinds(ins.findings, Severity.MEDIUM))


def test_damaged_onnx_is_a_finding(tmp_path: Path) -> None:
    _, model = _onnx_model()
    data = model.SerializeToString()
    path = tmp_path / "cut.onnx"
    path.write_bytes(data[: len(data) // 2])
    ins = inspect_model(path)
    assert any("not a readable ONNX protobuf" in d for d in _kinds(ins.findings, Severity.HIGH))
