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


_SERIES_COLOURS = ("#5b8def", "#f28e2b", "#59a14f", "#b07aa1")


def _short(value: float) -> str:
    """A bar's label: 4 significant digits, whole numbers with thousands separators from 1,000 on."""
    return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.4g}"


def grouped_bars(groups: Sequence[dict[str, Any]], title: str = "", unit: str = "") -> str:
    """Horizontal bars, one group per label with one bar per series, on a shared axis from 0.

    groups: dicts with label and values ({series name: number or None}); a None or NaN value draws no bar.
    """
    if not groups:
        return ""
    series = list(dict.fromkeys(name for g in groups for name in g["values"]))

    def num(v: Any) -> float | None:
        return float(v) if isinstance(v, int | float) and v == v else None

    top_value = max([0.0, *(n for g in groups for v in g["values"].values() if (n := num(v)) is not None)]) or 1.0
    bar_h = 14
    group_h = bar_h * len(series) + 10
    top = _PAD + (18 if title else 0) + 16
    height = top + len(groups) * group_h + 8
    width = _LABEL_W + _BAR_W + 110
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="{escape(title)}" '
        'style="font: 12px sans-serif">'
    ]
    if title:
        out.append(f'<text x="{_PAD}" y="{_PAD + 12}" font-weight="bold">{escape(title)}</text>')
    legend_x = _LABEL_W
    for i, name in enumerate(series):
        colour = _SERIES_COLOURS[i % len(_SERIES_COLOURS)]
        out.append(
            f'<rect x="{legend_x}" y="{top - 14}" width="10" height="10" fill="{colour}"/>'
            f'<text x="{legend_x + 14}" y="{top - 5}">{escape(name)}</text>'
        )
        legend_x += 24 + 7 * len(name)
    for gi, g in enumerate(groups):
        y0 = top + gi * group_h
        label = escape(str(g["label"]))
        out.append(f'<text x="{_LABEL_W - 6}" y="{y0 + group_h / 2 + 2:.1f}" text-anchor="end">{label}</text>')
        for si, name in enumerate(series):
            value = num(g["values"].get(name))
            if value is None:
                continue
            y = y0 + si * bar_h
            w = max(value / top_value * _BAR_W, 1.0)
            colour = _SERIES_COLOURS[si % len(_SERIES_COLOURS)]
            out.append(
                f'<rect x="{_LABEL_W}" y="{y}" width="{w:.1f}" height="{bar_h - 2}" fill="{colour}">'
                f"<title>{escape(str(g['label']))}, {escape(name)}: {value:.4g} {escape(unit)}</title></rect>"
                f'<text x="{_LABEL_W + w + 4:.1f}" y="{y + bar_h - 4}">{_short(value)}</text>'
            )
    out.append("</svg>")
    return "".join(out)
