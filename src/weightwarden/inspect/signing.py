"""Sign a model and its BOM with OpenSSF model-signing and a local elliptic-curve key; verify them later, offline.

model-signing signs one folder. The signature must cover the model's files and the BOM, which live in different
places, so both are linked into a temporary folder (`model/...` and `bom/bom.cdx.json`) and that folder is signed,
following the links. Verification rebuilds the same folder from what is on disk now; any changed byte fails it.
"""

from __future__ import annotations

import json
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

from weightwarden.inspect.base import InspectionError, SignatureMismatch
from weightwarden.inspect.bom import MODEL_REF, bom_model_hashes
from weightwarden.inspect.hashing import model_files

BOM_NAME = "bom.cdx.json"


@dataclass(frozen=True)
class Signed:
    """What a signature covers: the model's files (names as signed) and the BOM."""

    signature: Path
    files: list[str]
    bom: Path


def default_paths(model: Path) -> tuple[Path, Path]:
    """Where the BOM and the signature go by default: beside the model, as MODEL.cdx.json and MODEL.sig."""
    model = model.resolve()
    return model.with_name(model.name + ".cdx.json"), model.with_name(model.name + ".sig")


def _view(model: Path, bom: Path, root: Path) -> list[str]:
    """Link the model's files under root/model/ and the BOM as root/bom/bom.cdx.json; returns the signed names."""
    if model.is_dir():
        files = model_files(model)
    elif model.is_file():
        files = [(model.name, model)]
    else:
        raise InspectionError(f"no such model file or folder: {model}")
    if not bom.is_file():
        raise InspectionError(f"no BOM at {bom}: write one with `warden bom MODEL -o {bom}` first")
    names = []
    for rel, path in files:
        link = root / "model" / rel
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(path.resolve())
        names.append(f"model/{rel}")
    (root / "bom").mkdir()
    (root / "bom" / BOM_NAME).symlink_to(bom.resolve())
    return [*names, f"bom/{BOM_NAME}"]


def _explain(message: str) -> str:
    """model-signing's mismatch message is a list's repr, names between raw digests: keep the names."""
    text = message.replace("\\'", "'")
    changed = re.findall(r"Hash mismatch for '([^']+)'", text)
    parts = [f"changed since signing: {', '.join(changed)}"] if changed else []
    for kind, names in re.findall(r"(Extra|Missing) files(?: found)? in model '[^']*': ([^'\"\]]+)", text):
        parts.append(f"{'added' if kind == 'Extra' else 'missing'} since signing: {names.strip()}")
    return "; ".join(parts) or message


def _hashing_config():  # type: ignore[no-untyped-def]
    from model_signing import hashing

    return hashing.Config().use_file_serialization(allow_symlinks=True).set_allow_symlinks(True)


def _check_bom_matches(model: Path, bom: Path, model_sha256: str) -> None:
    """The BOM must describe this model (same sha256), or signing it beside the model proves nothing."""
    try:
        data = json.loads(bom.read_text())
    except (OSError, ValueError) as exc:
        raise InspectionError(f"cannot read the BOM {bom}: {exc}") from None
    recorded = bom_model_hashes(data).get(MODEL_REF)
    if recorded != model_sha256:
        raise InspectionError(
            f"the BOM {bom} describes a model with sha256 {str(recorded)[:12]}, not {model} ({model_sha256[:12]}): "
            f"write a new one with `warden bom {model} -o {bom}`"
        )


def sign(model: Path, key: Path, bom: Path, signature: Path, model_sha256: str, password: str | None = None) -> Signed:
    """Sign the model's files and the BOM with a PEM elliptic-curve private key; writes a Sigstore bundle.

    model_sha256: the model's identity (from inspect), which the BOM must record.
    """
    from model_signing import signing

    if not key.is_file():
        raise InspectionError(
            f"no private key at {key}: create one with `openssl ecparam -name prime256v1 -genkey -noout -out {key}`"
        )
    _check_bom_matches(model, bom, model_sha256)
    with tempfile.TemporaryDirectory(prefix="warden-sign-") as tmp:
        root = Path(tmp) / "signed"
        root.mkdir()
        names = _view(model, bom, root)
        try:
            config = signing.Config().set_hashing_config(_hashing_config())
            config.use_elliptic_key_signer(private_key=key, password=password).sign(root, signature)
        except (ValueError, TypeError, OSError) as exc:
            raise InspectionError(
                f"cannot sign with {key}: {exc} (the key must be a PEM elliptic-curve private key)"
            ) from None
    return Signed(signature, names, bom)


def verify(model: Path, pub: Path, bom: Path, signature: Path) -> Signed:
    """Check the signature against the model's files and the BOM as they are now; SignatureMismatch if not."""
    from model_signing import verifying

    for what, path in (("public key", pub), ("signature", signature)):
        if not path.is_file():
            raise InspectionError(f"no {what} at {path}")
    with tempfile.TemporaryDirectory(prefix="warden-verify-") as tmp:
        root = Path(tmp) / "signed"
        root.mkdir()
        names = _view(model, bom, root)
        try:
            config = verifying.Config().set_hashing_config(_hashing_config())
            config.use_elliptic_key_verifier(public_key=pub).verify(root, signature)
        except ValueError as exc:
            raise SignatureMismatch(f"verification failed for {model}: {_explain(str(exc))}") from None
        except Exception as exc:  # the library raises its own and cryptography's errors for bad keys and bundles
            raise SignatureMismatch(
                f"verification failed for {model}: {type(exc).__name__}: {exc} (wrong public key or damaged signature?)"
            ) from None
    return Signed(signature, names, bom)
