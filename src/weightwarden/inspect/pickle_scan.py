"""Find every import a pickle would perform, in plain pickles, PyTorch zip and legacy checkpoints, without unpickling.

Severity of an import: critical when it reaches the operating system, the interpreter or the network (os.system,
builtins.eval, subprocess, socket, ...); high when it can reach arbitrary attributes or cannot be named (getattr-like
helpers, STACK_GLOBAL with computed operands, extension codes); info for the reconstructors a plain tensor
checkpoint needs (torch, numpy and collections); medium for everything else, which loading would import and call.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from weightwarden.inspect.base import Finding, Severity
from weightwarden.inspect.pickle_vm import Global, Import, Trace, follow, looks_like_pickle

MAX_DEPTH = 3  # zips in zips and pickles in pickles: deeper than this is an attack on the scanner
MAX_PICKLES_PER_FILE = 16  # legacy torch.save writes 5 pickles back to back, then raw storage bytes
PICKLE_SUFFIXES = (".pkl", ".pickle")


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


CRITICAL_MODULES = _words(
    """os posix nt subprocess sys runpy socket shutil pty commands webbrowser ctypes importlib marshal pickle _pickle
    cPickle code codeop multiprocessing asyncio signal http urllib urllib2 urllib3 requests httpx httplib ftplib smtplib
    telnetlib socketserver xmlrpc pip setuptools distutils ensurepip venv bdb pdb timeit cProfile profile trace
    _posixsubprocess _thread threading platform zipimport pkgutil imp __main__ aiohttp paramiko fabric dill
    cloudpickle joblib.externals.cloudpickle"""
)
CRITICAL_NAMES = frozenset(
    {("builtins", n) for n in _words("eval exec compile __import__ getattr setattr delattr open breakpoint input")}
    | {("builtins", n) for n in ("globals", "locals", "vars")}
    | {("__builtin__", n) for n in _words("eval exec execfile compile __import__ getattr setattr delattr open file")}
    | {("__builtin__", "apply")}
    | {("types", "CodeType"), ("types", "FunctionType"), ("types", "LambdaType"), ("types", "MethodType")}
    | {("numpy.testing._private.utils", "runstring"), ("torch.hub", "load"), ("torch.hub", "load_state_dict_from_url")}
)
HIGH_MODULES = frozenset({"operator", "functools", "inspect", "gc", "weakref", "io", "pathlib", "tempfile", "glob"})
HIGH_NAMES = frozenset(
    {
        ("torch", "load"),
        ("torch.serialization", "load"),
        ("torch.storage", "_load_from_bytes"),
        ("torch.jit", "load"),
        ("torch._C", "_jit_pass_lower_graph"),
        ("numpy", "load"),
        ("numpy.lib.npyio", "load"),
        ("_codecs", "decode"),
    }
)

_TORCH_REBUILD = _words(
    """_rebuild_tensor _rebuild_tensor_v2 _rebuild_tensor_v3 _rebuild_parameter _rebuild_parameter_with_state
    _rebuild_qtensor _rebuild_sparse_tensor _rebuild_nested_tensor _rebuild_device_tensor_from_numpy
    _rebuild_meta_tensor_no_storage _rebuild_wrapper_subclass"""
)
_TORCH_DTYPES = {
    "float16", "float32", "float64", "bfloat16", "half", "float", "double", "int8", "int16", "int32", "int64", "uint8",
    "uint16", "uint32", "uint64", "bool", "complex64", "complex128", "float8_e4m3fn", "float8_e5m2", "qint8", "quint8",
    "qint32", "long", "int", "short", "strided", "sparse_coo", "preserve_format", "contiguous_format", "channels_last",
}  # fmt: skip
SAFE_GLOBALS = frozenset(
    {("torch._utils", n) for n in _TORCH_REBUILD}
    | {("torch", n) for n in _TORCH_DTYPES}
    | {("torch", "Size"), ("torch", "device"), ("torch.storage", "UntypedStorage"), ("torch", "UntypedStorage")}
    | {("torch._tensor", "_rebuild_from_type_v2"), ("torch.nn.parameter", "Parameter"), ("torch", "Tensor")}
    | {("collections", n) for n in ("OrderedDict", "defaultdict", "Counter", "deque")}
    | {(m, n) for m in ("numpy.core.multiarray", "numpy._core.multiarray") for n in ("_reconstruct", "scalar")}
    | {("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode"), ("copyreg", "_reconstructor")}
    | {("builtins", n) for n in _words("set frozenset slice complex bytearray bytes list dict tuple int float str")}
    | {("builtins", n) for n in ("bool", "range", "object")}
    | {("__builtin__", n) for n in _words("set frozenset slice complex bytearray list dict tuple int float str bool")}
    | {("__builtin__", "object")}
)


def classify(target: Global | None) -> tuple[Severity, str]:
    """Severity of one import and the reason, in words a user can act on."""
    if target is None:
        return Severity.HIGH, "an import whose name is computed at load time, so no scanner can tell what it runs"
    key = (target.module, target.name)
    top = target.module.split(".")[0]
    if key in CRITICAL_NAMES or top in CRITICAL_MODULES or target.module in CRITICAL_MODULES:
        return Severity.CRITICAL, "runs commands, code or network access when the file is loaded"
    if key in SAFE_GLOBALS:
        return Severity.INFO, "a standard tensor/array reconstructor"
    if target.module.startswith("torch") and target.name.endswith("Storage") and target.name[:1].isupper():
        return Severity.INFO, "a standard tensor storage type"
    if key in HIGH_NAMES or top in HIGH_MODULES:
        return Severity.HIGH, "can load further pickles or call arbitrary attributes"
    return (
        Severity.MEDIUM,
        "not on the allow-list: loading imports and may call it (torch.load(weights_only=True) refuses it)",
    )


@dataclass
class PickleReport:
    """Every pickle found in one file, with their imports and the first (main) pickle's root value."""

    pickles: list[str] = field(default_factory=list)  # where each sits: "archive/data.pkl", "pickle", "pickle#3"
    imports: list[tuple[str, Import]] = field(default_factory=list)
    anomalies: list[tuple[str, str]] = field(default_factory=list)
    roots: list[tuple[str, Any]] = field(default_factory=list)
    zip_members: list[str] = field(default_factory=list)
    code_members: list[str] = field(default_factory=list)  # TorchScript .py sources, which torch.jit.load runs
    kind: str = "pickle"  # pickle, torch-zip, torch-legacy, zip

    def findings(self, file: str) -> list[Finding]:
        """One finding per distinct import (with where it occurs) and one per malformed pickle."""
        grouped: dict[str, tuple[Severity, str, list[str], bool]] = {}
        for where, imp in self.imports:
            sev, why = classify(imp.target)
            name = imp.target.dotted if imp.target else f"<unresolved {imp.opcode}>"
            prev = grouped.get(name)
            places = (prev[2] if prev else []) + [f"{where} byte {imp.pos}"]
            grouped[name] = (sev, why, places, (prev[3] if prev else False) or imp.called)
        out: list[Finding] = []
        for name, (sev, why, places, called) in grouped.items():
            if sev is Severity.INFO:
                continue  # listed in details; a finding per rebuild helper would drown the real ones
            verb = "imports and calls" if called else "imports"
            shown = ", ".join(places[:3]) + (f" and {len(places) - 3} more" if len(places) > 3 else "")
            out.append(Finding(sev, "pickle-import", f"{verb} {name}: {why} (at {shown})", file))
        if self.code_members:
            shown = ", ".join(self.code_members[:3])
            out.append(
                Finding(
                    Severity.HIGH,
                    "custom-code",
                    f"the archive carries Python source ({shown}): torch.jit.load compiles and runs it",
                    file,
                )
            )
        for where, text in self.anomalies:
            out.append(
                Finding(Severity.MEDIUM, "pickle-malformed", f"{where}: {text}; loaders may disagree on it", file)
            )
        return out

    def import_table(self) -> list[dict[str, Any]]:
        rows = []
        for where, imp in self.imports:
            sev, _ = classify(imp.target)
            name = imp.target.dotted if imp.target else None
            rows.append({"import": name, "opcode": imp.opcode, "where": where, "pos": imp.pos, "severity": str(sev)})
        return rows


def _record(report: PickleReport, where: str, trace: Trace, depth: int) -> None:
    report.pickles.append(where)
    report.imports.extend((where, imp) for imp in trace.imports)
    report.anomalies.extend((where, a) for a in trace.anomalies)
    report.roots.append((where, trace.root))
    for i, blob in enumerate(trace.nested):
        if depth + 1 > MAX_DEPTH:
            report.anomalies.append((where, f"pickles nested deeper than {MAX_DEPTH}: not followed"))
            break
        _scan_stream(io.BytesIO(blob), report, f"{where}/bytes[{i}]", depth + 1, first_only=True)


def _scan_stream(stream: IO[bytes], report: PickleReport, where: str, depth: int, *, first_only: bool = False) -> int:
    """Follow pickles back to back from a seekable stream; returns how many were read."""
    count = 0
    while count < MAX_PICKLES_PER_FILE:
        start = stream.tell()
        head = stream.read(3)
        stream.seek(start)
        if count and not looks_like_pickle(head):
            break  # legacy checkpoints continue with raw storage bytes after their pickles
        trace = follow(stream)
        label = where if count == 0 else f"{where}#{count}"
        if count and (trace.anomalies and not trace.imports):
            break  # bytes after the last pickle that merely start like one
        _record(report, label, trace, depth)
        count += 1
        if first_only or trace.anomalies or trace.end == 0:
            break
        stream.seek(start + trace.end)
    return count


def _member_is_pickle(zf: zipfile.ZipFile, info: zipfile.ZipInfo, has_data_pkl: bool) -> bool:
    if info.filename.endswith(PICKLE_SUFFIXES):
        return True
    if has_data_pkl and "/data/" in f"/{info.filename}":
        return False  # raw tensor storage: random bytes can look like a pickle header
    with zf.open(info) as fh:
        return looks_like_pickle(fh.read(3))


def _member_is_zip(zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> bool:
    with zf.open(info) as fh:
        return fh.read(4) == b"PK\x03\x04"


def _scan_zip(zf: zipfile.ZipFile, report: PickleReport, prefix: str, depth: int) -> None:
    infos = [i for i in zf.infolist() if not i.is_dir()]
    report.zip_members.extend(prefix + i.filename for i in infos)
    has_data_pkl = any(i.filename.endswith("data.pkl") for i in infos)
    for info in infos:
        where = prefix + info.filename
        if info.filename.endswith(".py"):
            report.code_members.append(where)
        if _member_is_pickle(zf, info, has_data_pkl):
            with zf.open(info) as fh:
                _scan_stream(fh, report, where, depth)
        elif info.file_size >= 4 and _member_is_zip(zf, info):
            if depth + 1 > MAX_DEPTH:
                report.anomalies.append((where, f"zips nested deeper than {MAX_DEPTH}: not opened"))
                continue
            with zf.open(info) as fh, zipfile.ZipFile(fh) as inner:
                _scan_zip(inner, report, where + "!/", depth + 1)


def scan_file(path: Path) -> PickleReport:
    """Scan a pickle, a PyTorch zip checkpoint (every member) or a legacy PyTorch file, reading only bytes."""
    report = PickleReport()
    with path.open("rb") as fh:
        magic = fh.read(4)
        fh.seek(0)
        if magic == b"PK\x03\x04":
            try:
                with zipfile.ZipFile(fh) as zf:
                    _scan_zip(zf, report, "", 0)
            except (zipfile.BadZipFile, OSError, EOFError, NotImplementedError) as exc:
                report.anomalies.append((path.name, f"the zip archive is damaged ({exc})"))
            report.kind = "torch-zip" if any(p.endswith("data.pkl") for p in report.pickles) else "zip"
            return report
        _scan_stream(fh, report, "pickle", 0)
    report.kind = "torch-legacy" if len(report.pickles) >= 4 else "pickle"
    return report


def iter_roots(report: PickleReport) -> Iterator[tuple[str, Any]]:
    """The main pickles' roots: data.pkl in a zip checkpoint, or the pickle that holds the state in a legacy file."""
    for where, root in report.roots:
        if where.endswith("data.pkl") or where in ("pickle", "pickle#3"):
            yield where, root
