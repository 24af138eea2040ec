"""Inline SVG charts for the report: no scripts, no fonts, so report.html opens offline."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape
from typing import Any

_LABEL_W = 300
_BAR_W = 320
_ROW_H = 22
_PAD = 8


def interval_bars(rows: Sequence[dict[str, Any]], title: str = "") -> str:
    """Horizontal bars of metric values with 95% interval whiskers.

    rows: dicts with label, value, low, high (and n); the axis spans [0, 1] widened to fit every interval.
    """
    if not rows:
        return ""
    lo = min(0.0, *(float(r["low"]) for r in rows))
    hi = max(1.0, *(float(r["high"]) for r in rows))
    span = hi - lo or 1.0

    def x(v: float) -> float:
        return _LABEL_W + (float(v) - lo) / span * _BAR_W

    top = _PAD + (18 if title else 0)
    height = top + len(rows) * _ROW_H + 24
    width = _LABEL_W + _BAR_W + 110
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="{escape(title)}" '
        'font-family="sans-serif" font-size="12">'
    ]
    if title:
        out.append(f'<text x="{_PAD}" y="{_PAD + 12}" font-weight="bold">{escape(title)}</text>')
    zero = x(0.0)
    for i, r in enumerate(rows):
        y = top + i * _ROW_H
        mid = y + _ROW_H / 2
        value, low, high = float(r["value"]), float(r["low"]), float(r["high"])
        left, right = sorted((zero, x(value)))
        out.append(
            f'<text x="{_LABEL_W - 6}" y="{mid + 4:.1f}" text-anchor="end">{escape(str(r["label"]))}</text>'
            f'<rect x="{left:.1f}" y="{y + 4}" width="{max(right - left, 1.0):.1f}" height="{_ROW_H - 8}" '
            'fill="#5b8def"><title>'
            f"{escape(str(r['label']))}: {value:.3f} [{low:.3f}, {high:.3f}] n={r.get('n', '')}</title></rect>"
            f'<line x1="{x(low):.1f}" y1="{mid:.1f}" x2="{x(high):.1f}" y2="{mid:.1f}" '
            'stroke="#222" stroke-width="1.5"/>'
            f'<line x1="{x(low):.1f}" y1="{y + 6}" x2="{x(low):.1f}" y2="{y + _ROW_H - 6}" stroke="#222"/>'
            f'<line x1="{x(high):.1f}" y1="{y + 6}" x2="{x(high):.1f}" y2="{y + _ROW_H - 6}" stroke="#222"/>'
            f'<text x="{_LABEL_W + _BAR_W + 8}" y="{mid + 4:.1f}">{value:.3f} (n={r.get("n", "")})</text>'
        )
    axis_y = top + len(rows) * _ROW_H + 4
    out.append(f'<line x1="{x(lo)}" y1="{axis_y}" x2="{x(hi)}" y2="{axis_y}" stroke="#999"/>')
    for tick in sorted({lo, 0.0, 0.5, 1.0, hi}):
        out.append(
            f'<line x1="{x(tick):.1f}" y1="{axis_y}" x2="{x(tick):.1f}" y2="{axis_y + 4}" stroke="#999"/>'
            f'<text x="{x(tick):.1f}" y="{axis_y + 16}" text-anchor="middle" fill="#666">{tick:g}</text>'
        )
    out.append("</svg>")
    return "".join(out)
