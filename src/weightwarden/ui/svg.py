"""Small hand-written SVG charts for the dashboard: a line chart and a bar chart, server-rendered, no scripts.

Each chart is an <svg role="img"> with an aria-label and a <title>, and every point or bar carries its own <title>
with its label and value, so a screen reader (and a test) can read the numbers. All text is escaped here; callers
mark the result safe. No style attributes (the dashboard's CSP forbids them): presentation attributes only.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from html import escape

WIDTH = 640
HEIGHT = 220
LEFT, RIGHT, TOP, BOTTOM = 56, 16, 28, 40
COLOURS = ("#2f6fdf", "#c2410c", "#15803d", "#7c3aed")


@dataclass(frozen=True)
class Series:
    """One line: a name and its (x label, value) points in order; a None value is a gap."""

    name: str
    points: Sequence[tuple[str, float | None]]


def _fmt(value: float) -> str:
    return f"{value:.4g}"


def _open(title: str, height: int = HEIGHT) -> list[str]:
    t = escape(title)
    return [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 {WIDTH} {height}" '
        f'width="100%" role="img" aria-label="{t}" font-family="sans-serif" font-size="11">',
        f"<title>{t}</title>",
        f'<text x="{LEFT}" y="16" font-weight="bold" font-size="12">{t}</text>',
    ]


def _empty(title: str) -> str:
    out = _open(title, 60)
    out.append(f'<text x="{LEFT}" y="44" fill="#555">no data</text></svg>')
    return "".join(out)


def _y_axis(lo: float, hi: float, y: Callable[[float], float], height: int) -> list[str]:
    out = [f'<line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{height - BOTTOM}" stroke="#888"/>']
    for tick in (lo, (lo + hi) / 2, hi):
        ty = y(tick)
        out.append(
            f'<line x1="{LEFT - 4}" y1="{ty:.1f}" x2="{WIDTH - RIGHT}" y2="{ty:.1f}" stroke="#ddd"/>'
            f'<text x="{LEFT - 6}" y="{ty + 4:.1f}" text-anchor="end" fill="#444">{escape(_fmt(tick))}</text>'
        )
    return out


def line_chart(series: Sequence[Series], title: str, unit: str = "") -> str:
    """Lines over shared x labels (the first series' labels name the axis); one <circle> per value."""
    values = [v for s in series for _, v in s.points if v is not None]
    labels = list(dict.fromkeys(x for s in series for x, _ in s.points))
    if not values or not labels:
        return _empty(title)
    lo, hi = min(0.0, min(values)), max(values)
    hi = hi if hi > lo else lo + 1.0
    plot_w = WIDTH - LEFT - RIGHT
    plot_h = HEIGHT - TOP - BOTTOM
    step = plot_w / max(len(labels) - 1, 1)
    where = {x: LEFT + i * step if len(labels) > 1 else LEFT + plot_w / 2 for i, x in enumerate(labels)}

    def y(v: float) -> float:
        return TOP + plot_h - (v - lo) / (hi - lo) * plot_h

    out = _open(title)
    out += _y_axis(lo, hi, y, HEIGHT)
    every = max(1, len(labels) // 8)
    for i, x in enumerate(labels):
        if i % every == 0 or i == len(labels) - 1:
            out.append(
                f'<text x="{where[x]:.1f}" y="{HEIGHT - BOTTOM + 14}" text-anchor="middle" fill="#444">'
                f"{escape(x)}</text>"
            )
    suffix = f" {unit}" if unit else ""
    for n, s in enumerate(series):
        colour = COLOURS[n % len(COLOURS)]
        pts = [(where[x], y(v), x, v) for x, v in s.points if v is not None]
        if len(pts) > 1:
            path = " ".join(f"{px:.1f},{py:.1f}" for px, py, _, _ in pts)
            out.append(f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="2"/>')
        for px, py, x, v in pts:
            out.append(
                f'<circle class="point" cx="{px:.1f}" cy="{py:.1f}" r="3" fill="{colour}">'
                f"<title>{escape(s.name)} {escape(x)}: {escape(_fmt(v))}{escape(suffix)}</title></circle>"
            )
    if len(series) > 1:
        for n, s in enumerate(series):
            lx = LEFT + n * 150
            out.append(
                f'<rect x="{lx}" y="{HEIGHT - 14}" width="10" height="10" fill="{COLOURS[n % len(COLOURS)]}"/>'
                f'<text x="{lx + 14}" y="{HEIGHT - 5}">{escape(s.name)}</text>'
            )
    out.append("</svg>")
    return "".join(out)


def bar_chart(bars: Sequence[tuple[str, float]], title: str, unit: str = "") -> str:
    """Vertical bars, one per (label, value), from zero; each bar has a <title> with its value."""
    if not bars:
        return _empty(title)
    lo = min(0.0, *(v for _, v in bars))
    hi = max(0.0, *(v for _, v in bars))
    hi = hi if hi > lo else lo + 1.0
    plot_w = WIDTH - LEFT - RIGHT
    plot_h = HEIGHT - TOP - BOTTOM
    slot = plot_w / len(bars)

    def y(v: float) -> float:
        return TOP + plot_h - (v - lo) / (hi - lo) * plot_h

    out = _open(title)
    out += _y_axis(lo, hi, y, HEIGHT)
    every = max(1, len(bars) // 8)
    suffix = f" {unit}" if unit else ""
    for i, (label, value) in enumerate(bars):
        x = LEFT + i * slot + slot * 0.15
        top, bottom = sorted((y(value), y(0.0)))
        out.append(
            f'<rect class="bar" x="{x:.1f}" y="{top:.1f}" width="{slot * 0.7:.1f}" '
            f'height="{max(bottom - top, 0.5):.1f}"'
            f' fill="{COLOURS[0]}"><title>{escape(label)}: {escape(_fmt(value))}{escape(suffix)}</title></rect>'
        )
        if i % every == 0 or i == len(bars) - 1:
            out.append(
                f'<text x="{x + slot * 0.35:.1f}" y="{HEIGHT - BOTTOM + 14}" text-anchor="middle" fill="#444">'
                f"{escape(label)}</text>"
            )
    out.append("</svg>")
    return "".join(out)
