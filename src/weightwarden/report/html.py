"""An audit report as one self-contained HTML page: no scripts, no fonts, no links, so it opens offline."""

from __future__ import annotations

import json
from functools import cache
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape

from weightwarden.report.charts import interval_bars


@cache  # one environment: it compiles each template once, and rendering from it is thread-safe
def _env() -> Environment:
    env = Environment(
        loader=PackageLoader("weightwarden.report", "templates"), autoescape=select_autoescape(["html", "html.j2"])
    )
    env.filters["pretty"] = lambda v: (
        json.dumps(v, indent=2, ensure_ascii=False, default=str) if isinstance(v, dict | list) else v
    )
    env.filters["chart"] = lambda fig: interval_bars(fig.get("bars") or [], fig.get("title") or "")
    return env


def render_html(doc: dict[str, Any]) -> str:
    """report.html for a report document (see report.document)."""
    return _env().get_template("audit.html.j2").render(report=doc)


def render_html_body(doc: dict[str, Any]) -> str:
    """The part of report.html below its header (the stage table and every stage), for pages that embed a report."""
    return _env().get_template("audit_body.html.j2").render(report=doc)
