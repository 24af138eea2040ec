"""An audit report as short Markdown: the header, one table of stages, and each stage's summary."""

from __future__ import annotations

from typing import Any


def _cell(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def render_md(doc: dict[str, Any]) -> str:
    """report.md for a report document (see report.document): what a pull request or a ticket can quote."""
    if doc.get("kind") == "bench":
        from weightwarden.report.bench import render_bench_md

        return render_bench_md(doc)
    model = doc.get("model") or {}
    platform = doc.get("platform") or {}
    lines = [
        f"# Audit of {model.get('name', '?')}",
        "",
        f"- sha256: `{model.get('sha256', '?')}`",
        f"- run: `{doc['run_id']}` · {doc['started_at']} · weightwarden {doc.get('version', '?')}",
        f"- status: **{doc['status']}**",
    ]
    if platform:
        lines.append(f"- ran on: {platform.get('runtime', '?')} · {platform.get('summary', '')}")
    lines += ["", "| stage | status | seconds | summary |", "| --- | --- | ---: | --- |"]
    for s in doc["stages"]:
        lines.append(f"| {_cell(s['title'])} | {s['status']} | {s.get('seconds', 0):.1f} | {_cell(s['summary'])} |")
    return "\n".join(lines) + "\n"
