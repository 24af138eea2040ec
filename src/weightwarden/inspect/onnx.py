"""Read an ONNX model's protobuf bytes directly (no onnx package): opset, producer, graph size, initializers,
parameter count, and the risky parts: custom operator domains and external data paths that leave the folder."""

from __future__ import annotations

import mmap
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from weightwarden.inspect.base import FileReport, Finding, Severity

MAX_GRAPH_DEPTH = 16  # subgraphs of If/Loop/Scan nest; a deeper nest is an attack on the reader
STANDARD_DOMAINS = frozenset({"", "ai.onnx", "ai.onnx.ml", "ai.onnx.training", "ai.onnx.preview.training"})

# TensorProto.DataType -> (name, bits)
DATA_TYPES = {
    1: ("FLOAT", 32), 2: ("UINT8", 8), 3: ("INT8", 8), 4: ("UINT16", 16), 5: ("INT16", 16), 6: ("INT32", 32),
    7: ("INT64", 64), 8: ("STRING", 0), 9: ("BOOL", 8), 10: ("FLOAT16", 16), 11: ("DOUBLE", 64), 12: ("UINT32", 32),
    13: ("UINT64", 64), 14: ("COMPLEX64", 64), 15: ("COMPLEX128", 128), 16: ("BFLOAT16", 16),
    17: ("FLOAT8E4M3FN", 8), 18: ("FLOAT8E4M3FNUZ", 8), 19: ("FLOAT8E5M2", 8), 20: ("FLOAT8E5M2FNUZ", 8),
    21: ("UINT4", 4), 22: ("INT4", 4), 23: ("FLOAT4E2M1", 4),
}  # fmt: skip


class WireError(ValueError):
    """Bytes that break protobuf's wire format."""


def _varint(buf: memoryview, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(buf):
            raise WireError("the data ends inside a number")
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise WireError("a number is longer than 10 bytes")


def fields(buf: memoryview) -> Iterator[tuple[int, int, Any]]:
    """Yield (field number, wire type, value) for one message: ints for varint/fixed, memoryviews for bytes."""
    pos = 0
    end = len(buf)
    while pos < end:
        key, pos = _varint(buf, pos)
        number, wire = key >> 3, key & 7
        value: Any
        if wire == 0:
            value, pos = _varint(buf, pos)
        elif wire == 1:
            if pos + 8 > end:
                raise WireError("the data ends inside a 64-bit field")
            value, pos = int.from_bytes(buf[pos : pos + 8], "little"), pos + 8
        elif wire == 2:
            n, pos = _varint(buf, pos)
            if pos + n > end:
                raise WireError(f"field {number} claims {n:,} bytes, past the end of its message")
            value, pos = buf[pos : pos + n], pos + n
        elif wire == 5:
            if pos + 4 > end:
                raise WireError("the data ends inside a 32-bit field")
            value, pos = int.from_bytes(buf[pos : pos + 4], "little"), pos + 4
        else:
            raise WireError(f"wire type {wire} (field {number}) is not valid protobuf")
        if number == 0:
            raise WireError("field number 0 is not valid protobuf")
        yield number, wire, value


def _text(value: Any) -> str:
    return bytes(value).decode("utf-8", errors="replace")


def _packed_ints(wire: int, value: Any) -> list[int]:
    if wire == 0:
        return [int(value)]
    out, pos = [], 0
    while pos < len(value):
        v, pos = _varint(value, pos)
        out.append(v - (1 << 64) if v >= 1 << 63 else v)
    return out


@dataclass
class Graph:
    nodes: int = 0
    op_types: dict[str, int] = field(default_factory=dict)
    custom_ops: set[str] = field(default_factory=set)
    initializers: list[dict[str, Any]] = field(default_factory=list)
    inputs: list[str] = field(default_factory=list)
    outputs: list[str] = field(default_factory=list)
    subgraphs: int = 0


def _tensor(buf: memoryview) -> dict[str, Any]:
    t: dict[str, Any] = {"name": "", "dims": [], "data_type": 0, "raw_bytes": None, "external": {}}
    for number, wire, value in fields(buf):
        if number == 1:
            t["dims"].extend(_packed_ints(wire, value))
        elif number == 2:
            t["data_type"] = int(value)
        elif number == 8:
            t["name"] = _text(value)
        elif number == 9:
            t["raw_bytes"] = len(value)
        elif number == 13:
            entry = {k: _text(v) for k, _, v in fields(value)}
            t["external"][entry.get(1, "")] = entry.get(2, "")
    return t


def _value_info_name(buf: memoryview) -> str:
    return next((_text(v) for n, _, v in fields(buf) if n == 1), "")


def _node(buf: memoryview, graph: Graph, depth: int) -> None:
    op, domain = "", ""
    for number, _, value in fields(buf):
        if number == 4:
            op = _text(value)
        elif number == 7:
            domain = _text(value)
        elif number == 5:
            for anum, _, aval in fields(value):
                if anum in (6, 11):  # AttributeProto.g, AttributeProto.graphs: If/Loop/Scan bodies
                    graph.subgraphs += 1
                    _graph(aval, graph, depth + 1)
    graph.nodes += 1
    key = f"{domain}::{op}" if domain not in ("", "ai.onnx") else op
    graph.op_types[key] = graph.op_types.get(key, 0) + 1
    if domain not in STANDARD_DOMAINS:
        graph.custom_ops.add(f"{domain}::{op}")


def _graph(buf: memoryview, graph: Graph, depth: int) -> None:
    if depth > MAX_GRAPH_DEPTH:
        raise WireError(f"subgraphs nest deeper than {MAX_GRAPH_DEPTH}")
    for number, _, value in fields(buf):
        if number == 1:
            _node(value, graph, depth)
        elif number == 5 and depth == 0:
            graph.initializers.append(_tensor(value))
        elif number == 11 and depth == 0:
            graph.inputs.append(_value_info_name(value))
        elif number == 12 and depth == 0:
            graph.outputs.append(_value_info_name(value))


def _numel(dims: list[int]) -> int:
    n = 1
    for d in dims:
        n *= max(d, 0)
    return n


def _parse(buf: memoryview) -> tuple[dict[str, Any], Graph]:
    model: dict[str, Any] = {"opset_import": {}, "metadata_props": {}}
    graph = Graph()
    for number, _, value in fields(buf):
        if number == 1:
            model["ir_version"] = int(value)
        elif number == 2:
            model["producer_name"] = _text(value)
        elif number == 3:
            model["producer_version"] = _text(value)
        elif number == 4:
            model["domain"] = _text(value)
        elif number == 5:
            model["model_version"] = int(value)
        elif number == 8:
            entry = dict((n, v) for n, _, v in fields(value))
            model["opset_import"][_text(entry.get(1, b""))] = int(entry.get(2, 0))
        elif number == 14:
            entry = dict((n, v) for n, _, v in fields(value))
            model["metadata_props"][_text(entry.get(1, b""))] = _text(entry.get(2, b""))
        elif number == 7:
            _graph(value, graph, 0)
    return model, graph


def _external_findings(init: dict[str, Any], folder: Path, rel: str) -> list[Finding]:
    location = init["external"].get("location", "")
    if not location:
        return []
    target = (folder / location).resolve()
    if Path(location).is_absolute() or not target.is_relative_to(folder.resolve()):
        return [
            Finding(
                Severity.HIGH,
                "external-data",
                f"initializer {init['name']!r} reads external data from {location!r}, outside the model folder: "
                "a loader would read (or, when saving, write) any file it names",
                rel,
            )
        ]
    if not target.is_file():
        return [Finding(Severity.MEDIUM, "external-data", f"external data file {location!r} is missing", rel)]
    return []


def inspect_onnx(path: Path, rel: str) -> tuple[FileReport, list[Finding]]:
    """Parse the ModelProto without running or importing anything; a damaged file is a high structure finding."""
    size = path.stat().st_size
    report = FileReport(rel, "onnx", size)
    if size == 0:
        return report, [Finding(Severity.HIGH, "structure", "the file is empty", rel)]
    with path.open("rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as mm:
        view = memoryview(mm)
        try:
            model, graph = _parse(view)
        except WireError as exc:
            report.details = {"valid": False}
            return report, [Finding(Severity.HIGH, "structure", f"not a readable ONNX protobuf: {exc}", rel)]
        finally:
            view.release()
    findings: list[Finding] = []
    if "ir_version" not in model or not model["opset_import"]:
        findings.append(
            Finding(Severity.HIGH, "structure", "no ir_version or opset_import: this is not an ONNX model", rel)
        )
    if graph.custom_ops:
        findings.append(
            Finding(
                Severity.MEDIUM,
                "custom-op",
                f"uses operators from non-standard domains ({', '.join(sorted(graph.custom_ops)[:5])}): "
                "running it needs a custom operator library, which is native code",
                rel,
            )
        )
    dtypes: dict[str, int] = {}
    for init in graph.initializers:
        name, bits = DATA_TYPES.get(init["data_type"], (f"TYPE{init['data_type']}", 0))
        dtypes[name] = dtypes.get(name, 0) + 1
        need = _numel(init["dims"]) * bits // 8
        if init["raw_bytes"] is not None and bits and init["raw_bytes"] != need:
            findings.append(
                Finding(
                    Severity.HIGH,
                    "structure",
                    f"initializer {init['name']!r} {name}{init['dims']} needs {need:,} bytes "
                    f"but holds {init['raw_bytes']:,}",
                    rel,
                )
            )
        findings.extend(_external_findings(init, path.parent, rel))
    report.details = {
        "valid": True,
        "ir_version": model.get("ir_version"),
        "opset": model["opset_import"],
        "producer": f"{model.get('producer_name', '')} {model.get('producer_version', '')}".strip(),
        "domain": model.get("domain"),
        "model_version": model.get("model_version"),
        "metadata": model["metadata_props"],
        "nodes": graph.nodes,
        "subgraphs": graph.subgraphs,
        "op_types": dict(sorted(graph.op_types.items(), key=lambda kv: -kv[1])),
        "inputs": graph.inputs,
        "outputs": graph.outputs,
        "tensor_count": len(graph.initializers),
        "parameters": sum(_numel(i["dims"]) for i in graph.initializers),
        "dtypes": dtypes,
        "external_data": sorted(
            {i["external"]["location"] for i in graph.initializers if i["external"].get("location")}
        ),
        "tensors": [
            {"name": i["name"], "dtype": DATA_TYPES.get(i["data_type"], ("?", 0))[0], "shape": i["dims"]}
            for i in graph.initializers
        ],
    }
    return report, findings
