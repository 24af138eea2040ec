"""Inline SVG charts for the report: no scripts, no fonts, so report.html opens offline.

The charts are fluid, so they read the same on a 375 px phone as on a wide screen: the <svg> has no viewBox (its
12 px text stays 12 px at any width), x positions are percentages of the width and y positions pixels. Each row's
label and value are written on a line of their own above its bar, so a long label never squeezes the bars.
Presentation attributes only, no style attribute: the dashboard, which shows these charts, forbids inline style.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape
from textwrap import wrap
from typing import Any

_FONT = 12
_PAD = 8
_TITLE_CHARS = 44  # a bold title line that 330 px hold; a longer title wraps
_LABEL_H = 16  # a row's label line above its bar
_BAR_H = 12
_SERIES_COLOURS = ("#5b8def", "#f28e2b", "#59a14f", "#b07aa1")


def _title_h(title: str) -> int:
    """The height the title takes, on as many lines as a narrow screen needs."""
    return 22 + 16 * (len(wrap(title, _TITLE_CHARS)) - 1) if title else 4


def _open(height: int, title: str) -> list[str]:
    """The <svg> element and the title."""
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" width="100%" height="{height}" '
        f'role="img" aria-label="{escape(title)}" font-family="sans-serif" font-size="{_FONT}">'
    ]
    if title:
        lines = wrap(title, _TITLE_CHARS)
        spans = "".join(f'<tspan x="0" dy="{16 if i else 0}">{escape(line)}</tspan>' for i, line in enumerate(lines))
        out.append(f'<text x="0" y="14" font-weight="bold">{spans}</text>')
    return out


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
        """Percent of the width: the axis runs from 1% to 97%, leaving room for the end ticks' text."""
        return 1 + (float(v) - lo) / span * 96

    row_h = _LABEL_H + _BAR_H + 8
    top = _title_h(title)
    height = top + len(rows) * row_h + 24
    out = _open(height, title)
    zero = x(0.0)
    for i, r in enumerate(rows):
        y = top + i * row_h
        bar_y = y + _LABEL_H + 2
        mid = bar_y + _BAR_H / 2
        value, low, high = float(r["value"]), float(r["low"]), float(r["high"])
        left, right = sorted((zero, x(value)))
        label = escape(str(r["label"]))
        out.append(
            f'<text x="0" y="{y + 12}">{label} <tspan fill="#444">{value:.3f} (n={r.get("n", "")})</tspan></text>'
            f'<rect x="{left:.2f}%" y="{bar_y}" width="{max(right - left, 0.2):.2f}%" height="{_BAR_H}" '
            f'fill="#5b8def"><title>{label}: {value:.3f} [{low:.3f}, {high:.3f}] n={r.get("n", "")}</title></rect>'
            f'<line x1="{x(low):.2f}%" y1="{mid}" x2="{x(high):.2f}%" y2="{mid}" stroke="#222" stroke-width="1.5"/>'
            f'<line x1="{x(low):.2f}%" y1="{bar_y - 2}" x2="{x(low):.2f}%" y2="{bar_y + _BAR_H + 2}" stroke="#222"/>'
            f'<line x1="{x(high):.2f}%" y1="{bar_y - 2}" x2="{x(high):.2f}%" y2="{bar_y + _BAR_H + 2}" stroke="#222"/>'
        )
    axis_y = top + len(rows) * row_h + 2
    out.append(f'<line x1="{x(lo):.2f}%" y1="{axis_y}" x2="{x(hi):.2f}%" y2="{axis_y}" stroke="#999"/>')
    ticks = sorted({lo, 0.0, 0.5, 1.0, hi})
    for tick in ticks:
        anchor = "start" if tick == ticks[0] else "end" if tick == ticks[-1] else "middle"
        out.append(
            f'<line x1="{x(tick):.2f}%" y1="{axis_y}" x2="{x(tick):.2f}%" y2="{axis_y + 4}" stroke="#999"/>'
            f'<text x="{x(tick):.2f}%" y="{axis_y + 16}" text-anchor="{anchor}" fill="#666">{tick:g}</text>'
        )
    out.append("</svg>")
    return "".join(out)


def _short(value: float) -> str:
    """A bar's label: 4 significant digits, whole numbers with thousands separators from 1,000 on."""
    return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.4g}"


def grouped_bars(groups: Sequence[dict[str, Any]], title: str = "", unit: str = "") -> str:
    """Horizontal bars, one group per label with one bar per series, on a shared axis from 0.

    groups: dicts with label and values ({series name: number or None}); a None or NaN value draws no bar.
    The longest bar takes 75% of the width, so its value fits after it at 375 px.
    """
    if not groups:
        return ""
    series = list(dict.fromkeys(name for g in groups for name in g["values"]))

    def num(v: Any) -> float | None:
        return float(v) if isinstance(v, int | float) and v == v else None

    top_value = max([0.0, *(n for g in groups for v in g["values"].values() if (n := num(v)) is not None)]) or 1.0
    bar_h = 14
    group_h = _LABEL_H + bar_h * len(series) + 8
    top = _title_h(title) + 18  # and the legend's line
    height = top + len(groups) * group_h
    out = _open(height, title)
    legend_x = 0
    for i, name in enumerate(series):
        colour = _SERIES_COLOURS[i % len(_SERIES_COLOURS)]
        out.append(
            f'<rect x="{legend_x}" y="{top - 16}" width="10" height="10" fill="{colour}"/>'
            f'<text x="{legend_x + 14}" y="{top - 7}">{escape(name)}</text>'
        )
        legend_x += 28 + int(len(name) * _FONT * 0.6)
    for gi, g in enumerate(groups):
        y0 = top + gi * group_h
        label = escape(str(g["label"]))
        out.append(f'<text x="0" y="{y0 + 12}" font-weight="bold">{label}</text>')
        for si, name in enumerate(series):
            value = num(g["values"].get(name))
            if value is None:
                continue
            y = y0 + _LABEL_H + si * bar_h
            w = max(value / top_value * 75, 0.2)
            colour = _SERIES_COLOURS[si % len(_SERIES_COLOURS)]
            out.append(
                f'<rect x="0" y="{y}" width="{w:.2f}%" height="{bar_h - 2}" fill="{colour}">'
                f"<title>{label}, {escape(name)}: {value:.4g} {escape(unit)}</title></rect>"
                f'<text x="{w:.2f}%" dx="4" y="{y + bar_h - 3}">{_short(value)}</text>'
            )
    out.append("</svg>")
    return "".join(out)
