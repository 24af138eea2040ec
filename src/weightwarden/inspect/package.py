"""The Python package a model file was installed with (for models that ship in wheels, like the default one):
its name, version, declared license, license files and home page, from the installed metadata only."""

from __future__ import annotations

import sys
from email.message import Message
from importlib import metadata
from pathlib import Path
from typing import Any


def package_for(path: Path) -> dict[str, Any] | None:
    """Facts about the installed distribution that contains `path`, or None when it is not inside one."""
    path = path.resolve()
    for entry in sys.path:
        if not entry:
            continue
        base = Path(entry).resolve()
        if base.name not in ("site-packages", "dist-packages"):
            continue  # a source checkout on sys.path is not an installed package: its license is not the model's
        if not base.is_dir() or not path.is_relative_to(base) or path == base:
            continue
        top = path.relative_to(base).parts[0]
        dist = _by_name(base, top) or _by_index(top)
        if dist is not None:
            return _describe(dist)
    return None


def _by_name(base: Path, top: str) -> metadata.Distribution | None:
    """The usual case, found without reading every installed package's RECORD: dist-info named like the folder."""
    for info in base.glob("*.dist-info"):
        if info.name.split("-")[0].lower().replace(".", "_") == top.lower():
            return metadata.Distribution.at(info)
    return None


def _by_index(top: str) -> metadata.Distribution | None:
    names = metadata.packages_distributions().get(top)
    if not names:
        return None
    try:
        return metadata.distribution(names[0])
    except metadata.PackageNotFoundError:
        return None


def _describe(dist: metadata.Distribution) -> dict[str, Any]:
    meta: Message = dist.metadata  # type: ignore[assignment]
    classifiers = [c.split("::")[-1].strip() for c in meta.get_all("Classifier") or [] if c.startswith("License ::")]
    license_files: dict[str, str] = {}
    for f in dist.files or []:
        name = f.name.upper()
        if name.startswith(("LICENSE", "LICENCE", "COPYING", "NOTICE")) and "dist-info" in str(f):
            try:
                license_files[str(f)] = Path(str(dist.locate_file(f))).read_text(errors="replace")[:200_000]
            except OSError:
                continue
    urls = [u.split(",", 1)[-1].strip() for u in meta.get_all("Project-URL") or []]
    license_field = meta.get("License") or ""
    return {
        "name": meta.get("Name"),
        "version": meta.get("Version"),
        "license": license_field if len(license_field) <= 200 else license_field.strip().splitlines()[0][:200],
        "license_expression": meta.get("License-Expression"),
        "classifiers": classifiers,
        "license_files": license_files,
        "home_page": meta.get("Home-page") or (urls[0] if urls else None),
        "author": meta.get("Author") or meta.get("Author-email"),
    }
