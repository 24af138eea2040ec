"""Render an audit run from the ledger into files: report.json, report.html, report.md."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from weightwarden.ledger import Ledger
from weightwarden.report.document import audit_document
from weightwarden.report.html import render_html
from weightwarden.report.markdown import render_md


def render_json(doc: dict[str, Any]) -> str:
    return json.dumps(doc, indent=2, ensure_ascii=False)


RENDERERS: dict[str, Callable[[dict[str, Any]], str]] = {"json": render_json, "html": render_html, "md": render_md}
AUDIT_FORMATS = ("json", "html")  # what `warden audit` writes


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def write_report(doc: dict[str, Any], folder: Path, formats: Iterable[str] = AUDIT_FORMATS) -> dict[str, Path]:
    """Write report.FORMAT into folder (created) for each format; each file appears whole or not at all."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = {}
    for fmt in formats:
        paths[fmt] = folder / f"report.{fmt}"
        _atomic_write(paths[fmt], RENDERERS[fmt](doc))
    return paths


def render_run(
    ledger: Ledger, run_id: str, folder: Path, formats: Iterable[str] = AUDIT_FORMATS
) -> tuple[dict[str, Any], dict[str, Path]]:
    """Read an audit run from the ledger and write its report files; returns the document and the paths."""
    doc = audit_document(ledger, run_id)
    return doc, write_report(doc, folder, formats)
