"""Reports of past runs, rendered from the ledger alone (JSON, HTML, Markdown); nothing here runs work.

from weightwarden.report import render_run
doc, paths = render_run(ledger, run_id, Path("warden-report/abc123"), formats=("html", "md"))
"""

from weightwarden.report.document import audit_document
from weightwarden.report.html import render_html_body
from weightwarden.report.render import AUDIT_FORMATS, RENDERERS, render_run, write_report

__all__ = ["AUDIT_FORMATS", "RENDERERS", "audit_document", "render_html_body", "render_run", "write_report"]
