"""Compare: two stored eval runs through eval's own compare (paired deltas, intervals, p-values, flips, gates),
and one metric's trend over the eval runs of the model's family, as a line chart."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse
from markupsafe import Markup

from weightwarden.errors import WardenError
from weightwarden.eval.compare import Comparison, Gate, GateResult, gate_from_flag
from weightwarden.eval.compare import compare as compare_scores
from weightwarden.eval.compare_runs import eval_run, platform_check, run_grouped_scores, run_scores
from weightwarden.gateway.auth import Caller
from weightwarden.ledger import Ledger, RunRecord
from weightwarden.ui import queries, svg
from weightwarden.ui.pages.common import require_admin, ui_context

router = APIRouter()
Admin = Annotated[Caller, Depends(require_admin)]
DEFAULT_SIGNIFICANCE = 0.05
MAX_FLIPS = 200


def default_gates(cmp: Comparison) -> list[Gate]:
    """Without gates asked for: every suite-level metric may not drop significantly (p < 0.05)."""
    return [Gate(m.name, 0.0, DEFAULT_SIGNIFICANCE) for m in cmp.metrics if m.level == "suite"]


CACHED_PAIRS = 32


class CompareCache:
    """Comparisons of finished runs, kept on the app: a finished run's items do not change (resuming one reopens it
    and its ended_at moves, which changes the key), and the paired bootstraps cost far more than the page."""

    def __init__(self) -> None:
        self._done: dict[tuple[str, ...], tuple[Comparison, list[str]]] = {}

    def get(self, ledger: Ledger, a: str, b: str) -> tuple[Comparison, list[str]]:
        base, cand = eval_run(ledger, a, "base"), eval_run(ledger, b, "candidate")
        key = (a, b, str(base.ended_at), str(cand.ended_at), base.status, cand.status)
        if base.status == "running" or cand.status == "running":
            return compare_runs(ledger, a, b)
        if key not in self._done:
            if len(self._done) >= CACHED_PAIRS:
                self._done.pop(next(iter(self._done)), None)
            self._done[key] = compare_runs(ledger, a, b)
        return self._done[key]


def cache_of(request: Request) -> CompareCache:
    state = request.app.state
    if getattr(state, "ui_compare_cache", None) is None:
        state.ui_compare_cache = CompareCache()
    cache: CompareCache = state.ui_compare_cache
    return cache


def compare_runs(ledger: Ledger, a: str, b: str) -> tuple[Comparison, list[str]]:
    """eval compare on two stored runs, as `warden compare --run-base A --run-candidate B` computes it."""
    base, cand = eval_run(ledger, a, "base"), eval_run(ledger, b, "candidate")
    cmp = compare_scores(
        run_scores(ledger, a, "base"),
        run_scores(ledger, b, "candidate"),
        base_groups=run_grouped_scores(ledger, a),
        candidate_groups=run_grouped_scores(ledger, b),
    )
    return cmp, platform_check(ledger, base, cand).warnings


def metric_names(run: RunRecord | None) -> list[str]:
    """ "<task>.<metric>" for each metric an eval run's summary holds."""
    out = []
    for task in ((run.summary or {}) if run else {}).get("tasks") or []:
        out += [f"{task.get('task')}.{name}" for name in (task.get("metrics") or {})]
    return out


def metric_value(run: RunRecord, name: str) -> float | None:
    for task in (run.summary or {}).get("tasks") or []:
        for metric, m in (task.get("metrics") or {}).items():
            if f"{task.get('task')}.{metric}" == name and isinstance(m, dict):
                return float(m["value"])
    return None


def trend(ledger: Ledger, run: RunRecord, metric: str) -> tuple[str, int]:
    """The metric over the family's finished eval runs, one line per model; returns the SVG and the point count."""
    model = ledger.model(run.model_hash)
    members = queries.family(ledger, model) if model else []
    names = {m.hash: m.name for m in members} or {run.model_hash: run.model_hash[:12]}
    runs = queries.family_eval_runs(ledger, list(names))
    labels = [f"{r.started_at:%m-%d %H:%M} {r.id[-4:]}" for r in runs]
    series = []
    for h, name in names.items():
        pts = [
            (lab, metric_value(r, metric) if r.model_hash == h else None) for lab, r in zip(labels, runs, strict=True)
        ]
        if any(v is not None for _, v in pts):
            series.append(svg.Series(name, pts))
    count = sum(v is not None for s in series for _, v in s.points)
    return svg.line_chart(series, f"{metric} across eval runs of the {model.name if model else ''} family"), count


def _gates(text: str, cmp: Comparison) -> tuple[list[GateResult], bool]:
    flags = text.split()
    gates = [gate_from_flag(f) for f in flags] if flags else default_gates(cmp)
    return cmp.check(gates), not flags


@router.get("/compare", response_class=HTMLResponse)
def compare_page(
    request: Request, _: Admin, a: str = "", b: str = "", metric: str = "", gates: str = ""
) -> HTMLResponse:
    ui = ui_context(request)
    ctx: dict[str, Any] = {"a": a, "b": b, "gates_text": gates, "runs": queries.recent_runs(ui.ledger, "eval")}
    ctx |= {"cmp": None, "error": None, "warnings": [], "gate_results": [], "default_gates": False}
    ctx |= {"flips": [], "flip_count": 0, "flip_links": {}, "trend_svg": None, "trend_points": 0}
    ctx["names"] = queries.model_names(ui.ledger, {r.model_hash for r in ctx["runs"]})
    status = 200
    base = ui.ledger.run(a) if a else None
    if a and b:
        try:
            cmp, warnings = cache_of(request).get(ui.ledger, a, b)
            results, default = _gates(gates, cmp)
            flips = sorted(cmp.flips, key=lambda f: (f.direction != "right->wrong", f.task, f.metric, f.item_id))
            ctx |= {"cmp": cmp, "warnings": warnings, "gate_results": results, "default_gates": default}
            ctx |= {"flips": flips[:MAX_FLIPS], "flip_count": len(flips)}
            ctx["flip_links"] = queries.item_ids(ui.ledger, b, [f"{f.task}/{f.item_id}" for f in flips[:MAX_FLIPS]])
        except WardenError as exc:
            ctx["error"] = str(exc)
            status = 404 if "no run" in str(exc) else 400
    names = metric_names(base)
    chosen = metric if metric in names else (names[0] if names else "")
    ctx |= {"metrics": names, "metric": chosen}
    if base is not None and chosen:
        ctx["trend_svg"], ctx["trend_points"] = trend(ui.ledger, base, chosen)
        ctx["trend_svg"] = Markup(ctx["trend_svg"])
    resp = ui.render(request, "compare.html", **ctx)
    resp.status_code = status
    return resp
