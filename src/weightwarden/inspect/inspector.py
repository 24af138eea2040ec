"""`inspect_model`: what a model file or folder is, whether loading it is safe, what its license allows, where it came
from. It reads bytes and headers only: nothing is unpickled, imported or run, templates render in a sandbox."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from weightwarden import __version__
from weightwarden.errors import ModelNotFound, UnsupportedModel
from weightwarden.inspect import hf_dir, licenses
from weightwarden.inspect.base import FileReport, Finding, Inspection, Severity
from weightwarden.inspect.gguf import inspect_gguf
from weightwarden.inspect.hashing import folder_digest, hash_files, model_files
from weightwarden.inspect.lineage import lineage
from weightwarden.inspect.onnx import inspect_onnx
from weightwarden.inspect.package import package_for
from weightwarden.inspect.pickle_vm import looks_like_pickle
from weightwarden.inspect.pytorch import inspect_pickle_file
from weightwarden.inspect.safetensors import check_index_against_shards, inspect_index, inspect_safetensors
from weightwarden.inspect.sniff import looks_like, opens_as_pickle, read_head, zip_has_pickle
from weightwarden.inspect.template_scan import scan_template
from weightwarden.runtimes.artifact import DEFAULT_REF, HashCache, Progress, default_model_path

WEIGHT_FORMATS = ("gguf", "safetensors", "pytorch", "pickle", "onnx")
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl", ".pickle", ".joblib", ".mar", ".nemo")
UNSCANNED_WEIGHTS = (".h5", ".keras", ".msgpack", ".npy", ".npz", ".tflite", ".mlmodel", ".pb", ".ot", ".llamafile")
# storage types that mean quantized weights: GGUF block types and sub-byte or 8-bit floats
QUANTIZED_PREFIXES = ("Q", "IQ", "TQ", "MXFP", "F8", "F6", "F4", "FLOAT8", "FLOAT4", "INT4", "UINT4")


@dataclass(frozen=True)
class UsePlan:
    """What the user means to do with the model, for the license verdict (see licenses.decide)."""

    use: licenses.Use
    users: int = 0
    distribute: bool = False
    modify: bool = False


def detect_format(path: Path) -> str | None:
    """The weight format of one file from its first bytes and name, or None when it is not a weight file we read.

    A pickle suffix alone does not make a pickle: the bytes must start one (see sniff.opens_as_pickle), and a zip is
    a PyTorch checkpoint only with a pickle inside.
    """
    name = path.name.lower()
    if name.endswith(".index.json"):
        return "shard-index"
    try:
        head = read_head(path)
        size = path.stat().st_size
    except OSError as exc:
        raise ModelNotFound(f"cannot read {path}: {exc}") from None
    if head[:4] == b"GGUF":
        return "gguf"
    if head[:4] == b"PK\x03\x04":
        return "pytorch" if zip_has_pickle(path) else None
    if (len(head) >= 9 and head[8:9] == b"{") or name.endswith(".safetensors"):
        return "safetensors"
    if name.endswith(".onnx"):
        return "onnx"
    if looks_like_pickle(head) or (name.endswith(PICKLE_SUFFIXES) and opens_as_pickle(head, size > len(head))):
        return "pickle"
    return None


def _starts_like_pickle(path: Path) -> bool:
    with path.open("rb") as fh:
        return looks_like_pickle(fh.read(3))


def _inspect_file(path: Path, rel: str, fmt: str, root: Path) -> tuple[FileReport, list[Finding]]:
    if fmt == "gguf":
        return inspect_gguf(path, rel)
    if fmt == "safetensors":
        report, findings = inspect_safetensors(path, rel)
        if _starts_like_pickle(path):  # a length prefix can also read as a pickle header: check the other reading
            pickled, more, raw = inspect_pickle_file(path, rel)
            if raw.imports and not raw.anomalies:
                findings.append(
                    Finding(Severity.HIGH, "format", "the file parses both as safetensors and as a pickle", rel)
                )
                findings.extend(more)
                report.details["pickle"] = pickled.details
        return report, findings
    if fmt == "onnx":
        return inspect_onnx(path, rel)
    if fmt == "shard-index":
        return inspect_index(path, rel, root)
    report, findings, _ = inspect_pickle_file(path, rel)
    return report, findings


def _target(ref: str | Path) -> Path:
    text = str(ref).strip()
    if text == DEFAULT_REF:
        return default_model_path()
    if text.startswith("openai:") or "://" in text:
        raise UnsupportedModel(
            f"{text} is a remote model: its weights are not on this machine, so there is nothing to inspect; "
            "point `warden inspect` at a file or folder"
        )
    path = Path(text).expanduser()
    if not text or not path.exists():
        raise ModelNotFound(f"no such file or directory: {path} (check the path, or use `default`)")
    return path


def _other_format(rel: str) -> str:
    suffix = Path(rel).suffix.lower()
    if suffix == ".py":
        return "code"
    if suffix in UNSCANNED_WEIGHTS:
        return "unscanned-weights"
    if hf_dir.is_license_file(rel):
        return "license"
    return {".json": "json", ".md": "markdown", ".txt": "text", ".model": "tokenizer"}.get(suffix, "other")


def _pick_weights(reports: list[FileReport]) -> tuple[str, list[FileReport]]:
    """The weight files that describe the model: one format, preferring safetensors (a folder often has both)."""
    for fmt in ("safetensors", "gguf", "pytorch", "onnx", "pickle"):
        chosen = [r for r in reports if r.format == fmt and r.details.get("parameters") is not None]
        if chosen:
            return fmt, chosen if fmt != "gguf" else chosen[:1]
    return "", []


def _sum_dtypes(reports: list[FileReport]) -> dict[str, int]:
    out: dict[str, int] = {}
    for r in reports:
        for k, v in (r.details.get("quantization") or r.details.get("dtypes") or {}).items():
            out[k] = out.get(k, 0) + int(v)
    return dict(sorted(out.items(), key=lambda kv: -kv[1]))


def _license_declarations(
    gguf_meta: dict[str, Any], card: dict[str, Any], license_texts: dict[str, str], package: dict[str, Any] | None
) -> list[licenses.Declaration]:
    decls: list[licenses.Declaration | None] = []
    value = gguf_meta.get("general.license")
    if str(value or "").lower() in ("other", "") and gguf_meta.get("general.license.name"):
        value = gguf_meta["general.license.name"]
    decls.append(licenses.declare("gguf", "GGUF general.license", value))
    card_license = card.get("license")
    names = card_license if isinstance(card_license, list) else [card_license]
    for name in names:
        if str(name or "").lower() in ("other", "") and card.get("license_name"):
            name = card["license_name"]
        decls.append(licenses.declare("model-card", "model card license", name))
    for rel, text in license_texts.items():
        decls.append(licenses.declare("license-file", rel, text, text=True))
    if package:
        where = f"package {package['name']} {package['version']}"
        declared = (
            package.get("license_expression") or package.get("license") or next(iter(package["classifiers"]), None)
        )
        decls.append(licenses.declare("package", f"{where} metadata", declared))
        for rel, text in package.get("license_files", {}).items():
            decls.append(licenses.declare("package", f"{where} {Path(rel).name}", text, text=True))
    return [d for d in decls if d is not None]


def _templates(sources: dict[str, tuple[str, str]]) -> tuple[dict[str, Any], list[Finding]]:
    """Scan every chat template; name -> (file, text)."""
    import hashlib

    findings: list[Finding] = []
    entries = []
    for name, (file, text) in sources.items():
        where = f"{name!r}" if name != "default" else ""
        scan = scan_template(text, f"{where} in {file}".strip(), file)
        findings.extend(scan.findings)
        entries.append(
            {
                "name": name,
                "file": file,
                "sha256": hashlib.sha256(text.encode()).hexdigest(),
                "chars": len(text),
                "added_text": scan.added_text,
                "findings": len(scan.findings),
                "sample": scan.renders.get("with-system") or scan.renders.get("no-system"),
                "source": text,
            }
        )
    return {"present": bool(entries), "templates": entries}, findings


def _list_files(path: Path) -> list[tuple[str, Path]]:
    """The files to inspect, or a clear error for an empty folder, an empty file or a file of no format we read."""
    if path.is_dir():
        files = model_files(path)
        if not files:
            raise ModelNotFound(f"{path} is an empty folder: point at a model file or a folder with weights in it")
        return files
    if path.stat().st_size == 0:
        raise UnsupportedModel(f"{path} is empty (0 bytes): download it again")
    if detect_format(path) is None:
        head = read_head(path)
        raise UnsupportedModel(
            f"{path} is not a model file: it looks like {looks_like(head)} ({path.stat().st_size:,} bytes, starting "
            f"{head[:16]!r}). `warden inspect` recognises GGUF, safetensors, PyTorch .bin/.pt/.pth/.ckpt (a zip with "
            "a pickle inside, or a legacy pickle), pickle and ONNX files, and model folders"
        )
    return [(path.name, path)]


def _read_files(
    files: list[tuple[str, Path]], hashes: Mapping[str, str], folder: Path
) -> tuple[list[FileReport], list[Finding]]:
    """One FileReport per file (weights parsed, the rest named by kind) and the findings of the weight readers."""
    findings: list[Finding] = []
    reports: list[FileReport] = []
    for rel, p in files:
        fmt = detect_format(p)
        if fmt is None:
            report = FileReport(rel, _other_format(rel), p.stat().st_size)
        else:
            report, found = _inspect_file(p, rel, fmt, folder)
            findings.extend(found)
        report.sha256 = hashes[rel]
        reports.append(report)
    by_name = {r.path: r for r in reports}
    for r in reports:
        if r.format == "shard-index":
            findings.extend(check_index_against_shards(r, by_name, r.path))
        elif r.format == "unscanned-weights":
            detail = f"{Path(r.path).suffix} weights are not scanned by this version"
            findings.append(Finding(Severity.LOW, "format", detail, r.path))
    return reports, findings


@dataclass
class _Sidecars:
    """What a model folder says besides its weights."""

    config: dict[str, Any] = field(default_factory=dict)
    card: dict[str, Any] = field(default_factory=dict)
    title: str | None = None
    license_texts: dict[str, str] = field(default_factory=dict)
    templates: dict[str, tuple[str, str]] = field(default_factory=dict)  # name -> (file, template)


def _sidecars(path: Path, files: list[tuple[str, Path]], reports: list[FileReport]) -> tuple[_Sidecars, list[Finding]]:
    side = _Sidecars()
    findings: list[Finding] = []
    if path.is_dir():
        if (path / "config.json").is_file():
            data, problem = hf_dir.read_json(path / "config.json")
            side.config = data or {}
            findings.extend([problem] if problem else [])
        readme = next((p for rel, p in files if rel.lower() == "readme.md"), None)
        if readme is not None:
            side.card, problem_text = hf_dir.front_matter(readme.read_text(errors="replace"))
            side.title = hf_dir.card_title(readme)
            if problem_text:
                findings.append(Finding(Severity.LOW, "structure", problem_text, readme.name))
        side.license_texts = {
            rel: p.read_text(errors="replace")[:200_000] for rel, p in files if hf_dir.is_license_file(rel)
        }
        findings.extend(hf_dir.code_findings(side.config, [r.path for r in reports if r.format == "code"]))
        side.templates.update(hf_dir.tokenizer_templates(path))
    for r in reports:
        if r.format == "gguf" and r.details.get("valid"):
            for name, text in r.details.get("templates", {}).items():
                side.templates.setdefault(name if name not in side.templates else f"{r.path}:{name}", (r.path, text))
    return side, findings


def _facts(reports: list[FileReport], config: dict[str, Any]) -> dict[str, Any]:
    """Format, architecture, parameters, quantization and context, from the weights first and config.json second."""
    weight_format, weights = _pick_weights(reports)
    facts = hf_dir.config_facts(config)
    quantization = _sum_dtypes(weights)
    if isinstance(facts.get("quantization_config"), dict):
        quantization["method"] = facts["quantization_config"].get("quant_method", "unknown")
    gguf = next((r.details for r in weights if r.format == "gguf"), {})
    architecture = (
        gguf.get("architecture") or facts.get("model_type") or next(iter(facts.get("architectures") or []), None)
    )
    context = gguf.get("context_length") or hf_dir.context_length(facts)
    return {
        "weight_format": weight_format,
        "architecture": str(architecture) if architecture else None,
        "parameters": sum(int(r.details["parameters"]) for r in weights) if weights else None,
        "quantization": quantization,
        "quantized": "method" in quantization or any(k.upper().startswith(QUANTIZED_PREFIXES) for k in quantization),
        "context_length": int(context) if isinstance(context, int) else None,
        "config": facts,
        "gguf_metadata": next(
            (dict(r.details["metadata"]) for r in reports if r.format == "gguf" and r.details.get("valid")), {}
        ),
    }


def inspect_model(
    ref: str | Path,
    *,
    cache: HashCache | None = None,
    progress: Progress | None = None,
    plan: UsePlan | None = None,
    known_hashes: Mapping[str, str] | None = None,
) -> Inspection:
    """Inspect `default`, a model file or a model folder; every finding is collected, nothing is executed.

    progress: called with (bytes hashed, total bytes) while files are hashed; plan: a planned use to judge the
    license against; known_hashes: file hashes already known (relative name -> sha256), which are not re-read.
    """
    path = _target(ref)
    is_dir = path.is_dir()
    files = _list_files(path)
    hashes = hash_files(files, cache or HashCache(None), progress, known_hashes)
    reports, findings = _read_files(files, hashes, path if is_dir else path.parent)
    side, more = _sidecars(path, files, reports)
    findings.extend(more)
    facts = _facts(reports, side.config)
    if is_dir and facts["parameters"] is None and not any(r.format in WEIGHT_FORMATS for r in reports):
        findings.append(
            Finding(Severity.MEDIUM, "format", "no weight file this version can read was found in the folder")
        )
    gguf_meta: dict[str, Any] = facts["gguf_metadata"]

    chat, more = _templates(side.templates)
    findings.extend(more)
    package = package_for(path)
    license_section, more = licenses.summarise(_license_declarations(gguf_meta, side.card, side.license_texts, package))
    findings.extend(more)
    lineage_section, more = lineage(gguf_meta, side.card, side.config, package, facts["quantized"])
    findings.extend(more)
    use = None
    if plan is not None:
        use = licenses.decide(license_section["ids"], plan.use, plan.users, plan.distribute, plan.modify)
        if use["verdict"] == "not-allowed":
            why = "; ".join(f"{d['license']} {d['clause']}" for d in use["decisive"])
            findings.append(Finding(Severity.HIGH, "license", f"{plan.use} use as planned is not allowed ({why})"))

    name = gguf_meta.get("general.name") or side.card.get("model_name") or side.title
    metadata: dict[str, Any] = {"config": facts["config"], "card": side.card} if is_dir else dict(gguf_meta)
    if package:
        metadata["package"] = {k: v for k, v in package.items() if k != "license_files"}
    return Inspection(
        ref=str(ref),
        path=str(path.resolve()),
        name=str(name or (path.name if is_dir else path.stem)),
        format=("hf" if side.config else "folder") if is_dir else (facts["weight_format"] or reports[0].format),
        sha256=folder_digest(hashes) if is_dir else hashes[path.name],
        size_bytes=sum(r.size_bytes for r in reports),
        files=reports,
        architecture=facts["architecture"],
        parameters=facts["parameters"],
        quantization=facts["quantization"],
        context_length=facts["context_length"],
        metadata=metadata,
        chat_template=chat,
        license=license_section,
        use=use,
        lineage=lineage_section,
        findings=findings,
        inspected_at=datetime.now(UTC).isoformat(timespec="seconds"),
        tool={"name": "weightwarden", "version": __version__},
    )
