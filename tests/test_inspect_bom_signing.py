"""The ML-BOM validates against the official CycloneDX 1.6 schema; a model-signing signature over the model and
its BOM verifies, and fails after one changed byte in either, or with another key."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from weightwarden.inspect import InspectionError, SignatureMismatch, inspect_model
from weightwarden.inspect.bom import build_bom, validate, write_bom
from weightwarden.inspect.signing import sign, verify
from weightwarden.runtimes import Artifact
from weightwarden.runtimes.artifact import embedder_path


def _validate_with_library(data: dict) -> None:  # type: ignore[type-arg]
    from cyclonedx.schema import SchemaVersion
    from cyclonedx.validation.json import JsonStrictValidator

    assert JsonStrictValidator(SchemaVersion.V1_6).validate_str(json.dumps(data)) is None


def test_bom_of_the_default_model(default_artifact: Artifact) -> None:
    data = build_bom(inspect_model("default"))
    _validate_with_library(data)
    assert data["specVersion"] == "1.6" and data["bomFormat"] == "CycloneDX"
    model = data["metadata"]["component"]
    assert model["type"] == "machine-learning-model"
    assert model["hashes"] == [{"alg": "SHA-256", "content": default_artifact.sha256}]
    assert model["licenses"][0]["license"]["id"] == "Apache-2.0"
    props = {p["name"]: p["value"] for p in model["properties"]}
    assert props["weightwarden:parameters"] == "134515008" and props["weightwarden:architecture"] == "llama"
    assert model["modelCard"]["modelParameters"]["architectureFamily"] == "llama"


def test_bom_of_the_embedder_folder() -> None:
    data = build_bom(inspect_model(str(embedder_path())))
    _validate_with_library(data)
    model = data["metadata"]["component"]
    files = {c["name"]: c for c in model["components"]}
    assert files["model.safetensors"]["type"] == "file" and files["model.safetensors"]["hashes"][0]["alg"] == "SHA-256"
    assert {lic["license"]["id"] for lic in model["licenses"]} == {"Apache-2.0", "MIT"}
    datasets = [c for c in data["components"] if c["type"] == "data"]
    assert len(datasets) == 21
    assert model["modelCard"]["modelParameters"]["task"] == "sentence-similarity"
    assert len(model["modelCard"]["modelParameters"]["datasets"]) == 21


def test_non_spdx_licenses_are_named(tmp_path: Path) -> None:
    folder = tmp_path / "m"
    folder.mkdir()
    from safetensors.numpy import save_file

    save_file({"w": __import__("numpy").zeros(2, "float32")}, str(folder / "model.safetensors"))
    (folder / "README.md").write_text("---\nlicense: llama3.1\n---\n")
    data = build_bom(inspect_model(folder))
    assert data["metadata"]["component"]["licenses"][0]["license"]["name"] == "Llama 3.1 Community License Agreement"


def test_validate_rejects_a_broken_bom() -> None:
    with pytest.raises(InspectionError, match=r"CycloneDX 1\.6"):
        validate(json.dumps({"bomFormat": "CycloneDX", "specVersion": "1.6", "components": [{"type": "nonsense"}]}))


def _keypair(folder: Path, name: str) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    priv, pub = folder / f"{name}.pem", folder / f"{name}.pub.pem"
    priv.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    pub.write_bytes(
        key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    return priv, pub


def test_sign_verify_and_tamper(default_artifact: Artifact, tmp_path: Path) -> None:
    assert default_artifact.path is not None
    model = tmp_path / "model.gguf"
    shutil.copy(default_artifact.path, model)
    key, pub = _keypair(tmp_path, "key")
    _, other_pub = _keypair(tmp_path, "other")
    ins = inspect_model(model)
    bom = write_bom(ins, tmp_path / "model.cdx.json")
    sig = tmp_path / "model.sig"
    signed = sign(model, key, bom, sig, ins.sha256)
    assert signed.files == ["model/model.gguf", "bom/bom.cdx.json"]
    assert json.loads(sig.read_text())["mediaType"].startswith("application/vnd.dev.sigstore.bundle")
    verify(model, pub, bom, sig)

    with pytest.raises(SignatureMismatch):
        verify(model, other_pub, bom, sig)

    data = bytearray(model.read_bytes())
    data[len(data) // 2] ^= 0x01  # one bit of one byte in the middle of the weights
    model.write_bytes(bytes(data))
    with pytest.raises(SignatureMismatch, match=r"changed since signing: model/model\.gguf"):
        verify(model, pub, bom, sig)
    data[len(data) // 2] ^= 0x01
    model.write_bytes(bytes(data))
    verify(model, pub, bom, sig)

    text = bom.read_text()
    bom.write_text(text.replace('"1.6"', '"1.6" ', 1))  # one byte more in the BOM
    with pytest.raises(SignatureMismatch, match=r"bom/bom\.cdx\.json"):
        verify(model, pub, bom, sig)


def test_sign_refuses_a_bom_of_another_model(default_artifact: Artifact, tmp_path: Path) -> None:
    key, _ = _keypair(tmp_path, "key")
    folder = embedder_path()
    bom = write_bom(inspect_model("default"), tmp_path / "default.cdx.json")
    with pytest.raises(InspectionError, match="describes a model"):
        sign(folder, key, bom, tmp_path / "x.sig", inspect_model(str(folder)).sha256)


def test_sign_with_a_bad_key_is_a_clear_error(default_artifact: Artifact, tmp_path: Path) -> None:
    ins = inspect_model("default")
    bom = write_bom(ins, tmp_path / "b.json")
    bad = tmp_path / "bad.pem"
    bad.write_text("not a key")
    assert default_artifact.path is not None
    with pytest.raises(InspectionError, match="cannot sign"):
        sign(default_artifact.path, bad, bom, tmp_path / "x.sig", ins.sha256)
    with pytest.raises(InspectionError, match="no private key"):
        sign(default_artifact.path, tmp_path / "missing.pem", bom, tmp_path / "x.sig", ins.sha256)
