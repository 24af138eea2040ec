"""Traffic: requests, latency and errors per hour (or day) from the hourly pre-aggregates (ui.traffic_rollup), recent
errors, and the monitor's drift results and alert checks as the ledger recorded them."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse
from markupsafe import Markup

from weightwarden.gateway.auth import Caller
from weightwarden.monitor import parse_window
from weightwarden.ui import queries, svg
from weightwarden.ui.pages.common import require_admin, ui_context
from weightwarden.ui.traffic_rollup import RELATIVE_ERROR, Slot, traffic

router = APIRouter()
Admin = Annotated[Caller, Depends(require_admin)]
WINDOWS = ("24h", "7d", "30d")


def charts(slots: list[Slot], step: str) -> dict[str, Markup]:
    """The three charts of a window, one point or bar per hour or day."""
    label = (lambda v: v[11:13] + "h") if step == "hour" else (lambda v: v[5:10])
    requests = [(label(s.label), float(s.requests)) for s in slots]
    p50 = [(label(s.label), s.percentile(50)) for s in slots]
    p95 = [(label(s.label), s.percentile(95)) for s in slots]
    errors = [(label(s.label), round(100 * s.error_rate, 3)) for s in slots]
    out = {
        "requests": svg.bar_chart(requests, f"Requests per {step}"),
        "latency": svg.line_chart([svg.Series("p50", p50), svg.Series("p95", p95)], f"Latency per {step}", "ms"),
        "errors": svg.line_chart([svg.Series("5xx %", errors)], f"Server errors per {step} (% of requests)", "%"),
    }
    return {k: Markup(v) for k, v in out.items()}


def monitor_results(ledger: Any) -> list[dict[str, Any]]:
    out = []
    for row in queries.monitor_events(ledger):
        payload = row["payload"] or {}
        summary = payload.get("summary") or {}
        out.append(
            {
                "time": row["time"],
                "what": payload.get("what", "?"),
                "drifted": summary.get("drifted"),
                "min_p": summary.get("min_p_adjusted"),
                "firing": summary.get("firing"),
                "results": summary.get("results") or [],
                "tests": summary.get("tests") or {},
            }
        )
    return out


@router.get("/traffic", response_class=HTMLResponse)
def traffic_page(request: Request, _: Admin, window: str = "24h") -> HTMLResponse:
    ui = ui_context(request)
    window = window if window in WINDOWS else "24h"
    span = parse_window(window)
    step = "hour" if span.until - span.since <= timedelta(hours=48) else "day"
    ctx: dict[str, Any] = {"window": window, "windows": WINDOWS, "span": span, "step": step}
    ctx["relative_error"] = RELATIVE_ERROR
    slots, total = traffic(ui.ledger, span, step)
    ctx |= {"total": total, "charts": charts(slots, step)}
    ctx["errors"] = queries.recent_errors(ui.ledger, span.since)
    ctx["monitor"] = monitor_results(ui.ledger)
    return ui.render(request, "traffic.html", **ctx)
