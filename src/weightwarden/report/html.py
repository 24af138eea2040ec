"""Write an audit report as report.json and a self-contained report.html."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape


def _env() -> Environment:
    env = Environment(loader=PackageLoader("weightwarden.report", "templates"), autoescape=select_autoescape(["html"]))
    env.filters["pretty"] = lambda v: (
        json.dumps(v, indent=2, ensure_ascii=False, default=str) if isinstance(v, dict | list) else v
    )
    return env


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def write_report(report: dict[str, Any], folder: Path) -> tuple[Path, Path]:
    """Write report.json and report.html into folder (created); each file appears whole or not at all."""
    folder.mkdir(parents=True, exist_ok=True)
    json_path, html_path = folder / "report.json", folder / "report.html"
    _atomic_write(json_path, json.dumps(report, indent=2, ensure_ascii=False, default=str))
    _atomic_write(html_path, _env().get_template("audit.html.j2").render(report=report))
    return json_path, html_path
