"""A CycloneDX 1.6 ML-BOM of an inspection: a machine-learning-model component with hashes, licenses, lineage and
findings as properties, its files and declared datasets as components, and a modelCard. cyclonedx-python-lib has no
modelCard type yet, so the card is added to the JSON it writes, and the result is checked against the 1.6 schema."""

from __future__ import annotations

import json
import warnings
from functools import lru_cache
from pathlib import Path
from typing import Any

from weightwarden import __version__
from weightwarden.inspect.base import Inspection, InspectionError, sort_findings

MODEL_REF = "model"
PREFIX = "weightwarden:"


@lru_cache(maxsize=1)
def _spdx_ids() -> frozenset[str]:
    """The SPDX ids the bundled CycloneDX schema accepts: anything else is written as a license name."""
    from cyclonedx.schema._res import SPDX_JSON

    return frozenset(json.loads(Path(SPDX_JSON).read_text())["enum"])


def _licenses(ins: Inspection) -> list[Any]:
    from cyclonedx.model import XsUri
    from cyclonedx.model.license import DisjunctiveLicense, LicenseAcknowledgement

    from weightwarden.inspect.licenses import table

    out = []
    for lic_id in ins.license.get("ids", []):
        lic = table().get(lic_id)
        if lic is None or lic_id in ("unknown", "none"):
            continue
        ack = LicenseAcknowledgement.DECLARED
        if lic.spdx and lic.spdx in _spdx_ids():
            out.append(DisjunctiveLicense(id=lic.spdx, acknowledgement=ack))
        else:
            out.append(DisjunctiveLicense(name=lic.name, url=XsUri(lic.url) if lic.url else None, acknowledgement=ack))
    return out


def _properties(ins: Inspection) -> list[Any]:
    from cyclonedx.model import Property

    pairs: list[tuple[str, Any]] = [
        ("sha256", ins.sha256),
        ("format", ins.format),
        ("architecture", ins.architecture),
        ("parameters", ins.parameters),
        ("context_length", ins.context_length),
        ("quantization", json.dumps(ins.quantization, sort_keys=True) if ins.quantization else None),
        ("license.ids", ",".join(ins.license.get("ids", []))),
        ("lineage.quantized_by", ins.lineage.get("quantized_by")),
        ("lineage.source_url", ins.lineage.get("source_url")),
        ("inspected_at", ins.inspected_at),
        ("findings.worst", str(ins.worst) if ins.worst else "none"),
    ]
    pairs += [(f"findings.{k}", v) for k, v in ins.counts().items()]
    pairs += [("lineage.base_model", b) for b in ins.lineage.get("base_models", [])]
    pairs += [("lineage.gap", g) for g in ins.lineage.get("gaps", [])]
    pairs += [("chat_template.sha256", t["sha256"]) for t in ins.chat_template.get("templates", [])]
    if ins.use:
        pairs.append(("license.verdict", f"{ins.use['verdict']} ({ins.use['use']}, {ins.use['users']} users)"))
    pairs += [("finding", f"{f.severity} {f.kind}: {f.detail}") for f in sort_findings(ins.findings)]
    return [Property(name=PREFIX + k, value=str(v)) for k, v in pairs if v not in (None, "")]


def _components(ins: Inspection) -> tuple[Any, list[Any]]:
    from cyclonedx.model import ExternalReference, ExternalReferenceType, HashAlgorithm, HashType, XsUri
    from cyclonedx.model.component import Component, ComponentType, Pedigree

    files = [
        Component(
            type=ComponentType.FILE,
            name=f.path,
            bom_ref=f"file:{f.path}",
            hashes=[HashType(alg=HashAlgorithm.SHA_256, content=f.sha256)],
            properties=[],
        )
        for f in ins.files
    ]
    refs = []
    if any(f.path.lower() == "readme.md" for f in ins.files):
        refs.append(ExternalReference(type=ExternalReferenceType.MODEL_CARD, url=XsUri("README.md")))
    if ins.lineage.get("source_url"):
        refs.append(
            ExternalReference(type=ExternalReferenceType.DISTRIBUTION, url=XsUri(str(ins.lineage["source_url"])))
        )
    bases = ins.lineage.get("base_models", [])
    base_hash = _sha256(ins.lineage.get("base_sha256")) if len(bases) == 1 else []
    ancestors = [Component(type=ComponentType.MACHINE_LEARNING_MODEL, name=b, hashes=base_hash) for b in bases]
    single_file = len(ins.files) == 1 and not Path(ins.path).is_dir()
    model = Component(
        type=ComponentType.MACHINE_LEARNING_MODEL,
        name=ins.name,
        bom_ref=MODEL_REF,
        version=ins.sha256[:12],
        hashes=[HashType(alg=HashAlgorithm.SHA_256, content=ins.sha256)] if single_file else [],
        licenses=_licenses(ins),
        properties=_properties(ins),
        external_references=refs,
        pedigree=Pedigree(ancestors=ancestors) if ancestors else None,
        components=[] if single_file else files,
    )
    names = ins.lineage.get("datasets", [])
    data_hash = _sha256(ins.lineage.get("data_sha256")) if len(names) == 1 else []
    datasets = [
        Component(type=ComponentType.DATA, name=d, bom_ref=f"dataset:{i}", hashes=data_hash)
        for i, d in enumerate(names)
    ]
    return model, datasets


def _sha256(value: object) -> list[Any]:
    """A declared sha256 (as `warden tune` writes it) as a CycloneDX hash; anything else is left out."""
    from cyclonedx.model import HashAlgorithm, HashType

    text = str(value or "")
    if len(text) == 64 and all(c in "0123456789abcdef" for c in text):
        return [HashType(alg=HashAlgorithm.SHA_256, content=text)]
    return []


def _model_card(ins: Inspection) -> dict[str, Any]:
    params: dict[str, Any] = {}
    card = ins.metadata.get("card") if isinstance(ins.metadata.get("card"), dict) else {}
    task = (card or {}).get("pipeline_tag")
    if task:
        params["task"] = str(task)
    if ins.architecture:
        params["architectureFamily"] = ins.architecture
    archs = (
        (ins.metadata.get("config") or {}).get("architectures")
        if isinstance(ins.metadata.get("config"), dict)
        else None
    )
    if archs:
        params["modelArchitecture"] = str(archs[0])
    datasets = ins.lineage.get("datasets", [])
    if datasets:
        params["datasets"] = [{"ref": f"dataset:{i}"} for i in range(len(datasets))]
    out: dict[str, Any] = {"bom-ref": "model-card"}
    if params:
        out["modelParameters"] = params
    gaps = ins.lineage.get("gaps", [])
    if gaps:
        out["considerations"] = {"technicalLimitations": [f"lineage gap: {g}" for g in gaps]}
    return out


def build_bom(ins: Inspection) -> dict[str, Any]:
    """The ML-BOM as a JSON object, already validated against the CycloneDX 1.6 schema."""
    from cyclonedx.model.bom import Bom
    from cyclonedx.model.component import Component, ComponentType
    from cyclonedx.output.json import JsonV1Dot6

    model, datasets = _components(ins)
    bom = Bom(components=datasets)
    bom.metadata.component = model
    bom.metadata.tools.components.add(
        Component(type=ComponentType.APPLICATION, name="weightwarden", version=__version__)
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "incomplete dependency graph": datasets are not software dependencies
        data: dict[str, Any] = json.loads(JsonV1Dot6(bom).output_as_string())
    data["metadata"]["component"]["modelCard"] = _model_card(ins)
    validate(json.dumps(data), required=False)  # the tests always validate; a user without jsonschema still gets a BOM
    return data


def validate(text: str, *, required: bool = True) -> bool:
    """Check a BOM against the official CycloneDX 1.6 JSON schema (strict); raise InspectionError if it fails.

    required: when False, a missing validator (cyclonedx-python-lib's json-validation extra) skips the check;
    returns whether the check ran.
    """
    from cyclonedx.exception import MissingOptionalDependencyException
    from cyclonedx.schema import SchemaVersion
    from cyclonedx.validation.json import JsonStrictValidator

    try:
        error = JsonStrictValidator(SchemaVersion.V1_6).validate_str(text)
    except MissingOptionalDependencyException:
        if required:
            raise InspectionError(
                "validating a BOM needs jsonschema: pip install 'cyclonedx-python-lib[json-validation]'"
            ) from None
        return False
    if error is not None:  # the library's message embeds the whole schema: keep jsonschema's one-line reason
        reason = getattr(getattr(error, "data", None), "message", None) or str(error).splitlines()[0]
        where = "/".join(str(p) for p in getattr(getattr(error, "data", None), "absolute_path", []))
        raise InspectionError(f"the BOM does not validate against CycloneDX 1.6: {reason} (at /{where})")
    return True


def write_bom(ins: Inspection, out: Path) -> Path:
    """Write the validated BOM to `out` (created with its folder) and return the path."""
    data = build_bom(ins)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n")
    except OSError as exc:
        raise InspectionError(f"cannot write the BOM to {out}: {exc}") from None
    return out


def bom_model_hashes(data: dict[str, Any]) -> dict[str, str]:
    """The sha256 values a BOM records for the model and its files: name -> hex (the model itself under MODEL_REF)."""
    comp = data.get("metadata", {}).get("component", {})
    out = {}
    for h in comp.get("hashes", []):
        if h.get("alg") == "SHA-256":
            out[MODEL_REF] = h["content"]
    for prop in comp.get("properties", []):
        if prop.get("name") == PREFIX + "sha256":
            out.setdefault(MODEL_REF, prop["value"])
    for sub in comp.get("components", []):
        for h in sub.get("hashes", []):
            if h.get("alg") == "SHA-256":
                out[sub["name"]] = h["content"]
    return out
