"""Small hand-written SVG charts for the dashboard: a line chart and a bar chart, server-rendered, no scripts.

Each chart is an <svg role="img"> with an aria-label and a <title>, and every point or bar carries its own <title>
with its label and value, so a screen reader (and a test) can read the numbers. All text is escaped here; callers
mark the result safe. No style attributes (the dashboard's CSP forbids them): presentation attributes only.

The charts are fluid: the <svg> has no viewBox, so its text keeps its size in pixels at any width, while the x
positions are percentages of the width and the y positions pixels. A 375 px phone and a 1,440 px screen get the
same legible 12 px labels; the lines stretch. The polylines sit in a nested <svg> that is stretched to the width
(preserveAspectRatio="none") with a stroke that does not scale. Axis labels the width cannot hold carry the class
"tick-wide", which the stylesheet hides on a screen under 46rem (a chart under 700 px).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from html import escape
from textwrap import wrap

HEIGHT = 220
TOP, BOTTOM = 40, 40  # the title and the top value label above the plot; the x labels and legend below
LEFT_PCT, RIGHT_PCT = 2.0, 98.0  # the plot's x range, in percent of the width
FONT = 12
TITLE_CHARS = 44  # a bold title line that 330 px hold; a longer title wraps
COLOURS = ("#2f6fdf", "#c2410c", "#15803d", "#7c3aed")
# How many pixels of width the x labels may count on: a narrow screen's chart (375 px less the page's padding) and
# a wide one's. A label takes about 0.6 of the font size per character, plus a gap.
NARROW_PX, WIDE_PX = 330, 700


@dataclass(frozen=True)
class Series:
    """One line: a name and its (x label, value) points in order; a None value is a gap."""

    name: str
    points: Sequence[tuple[str, float | None]]


def _fmt(value: float) -> str:
    return f"{value:.4g}"


def _title_shift(title: str) -> int:
    """How many pixels the title's lines past the first push the chart down."""
    return 16 * (len(wrap(title, TITLE_CHARS)) - 1) if title else 0


def _open(title: str, height: int) -> list[str]:
    """The <svg> element and its title, on as many lines as a narrow screen needs."""
    t = escape(title)
    lines = "".join(
        f'<tspan x="0" dy="{16 if i else 0}">{escape(line)}</tspan>' for i, line in enumerate(wrap(title, TITLE_CHARS))
    )
    return [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" width="100%" height="{height}" '
        f'role="img" aria-label="{t}" font-family="sans-serif" font-size="{FONT}">',
        f"<title>{t}</title>",
        f'<text x="0" y="14" font-weight="bold">{lines}</text>',
    ]


def _empty(title: str) -> str:
    shift = _title_shift(title)
    out = _open(title, 48 + shift)
    out.append(f'<text x="0" y="{38 + shift}" fill="#555">no data</text></svg>')
    return "".join(out)


def _y_axis(lo: float, hi: float, y: Callable[[float], float], top: int, height: int) -> tuple[list[str], list[str]]:
    """Grid lines at the low, middle and high value, and their values written just above them at the left (drawn
    after the data, with a white outline, so a line through them leaves them legible)."""
    grid = [f'<line x1="{LEFT_PCT}%" y1="{top}" x2="{LEFT_PCT}%" y2="{height - BOTTOM}" stroke="#888"/>']
    text = []
    for tick in (lo, (lo + hi) / 2, hi):
        ty = y(tick)
        grid.append(f'<line x1="0" y1="{ty:.1f}" x2="100%" y2="{ty:.1f}" stroke="#ddd"/>')
        text.append(
            f'<text x="{LEFT_PCT}%" dx="3" y="{ty - 3:.1f}" fill="#444" stroke="#fff" stroke-width="3" '
            f'paint-order="stroke">{escape(_fmt(tick))}</text>'
        )
    return grid, text


def _every(count: int, longest: int, room: float) -> int:
    """The step between shown labels so that `count` labels of `longest` characters fit in `room` pixels."""
    fits = max(2, int(room // (longest * FONT * 0.6 + 12)))
    return max(1, -(-count // fits))


def _x_labels(labels: Sequence[str], where: Callable[[int], float], y: int) -> list[str]:
    """The x axis labels: as many as a wide chart holds, those a narrow one cannot hold marked "tick-wide"."""
    if not labels:
        return []
    longest = max(len(x) for x in labels)
    wide, narrow = _every(len(labels), longest, WIDE_PX), _every(len(labels), longest, NARROW_PX)
    last = len(labels) - 1
    out = []
    for i, label in enumerate(labels):
        shown = i == last or (i % wide == 0 and last - i > wide / 2)
        if not shown:
            continue
        small = i == last or (i % narrow == 0 and last - i > narrow / 2)
        anchor = "start" if i == 0 and last else "end" if i == last and last else "middle"
        css = "" if small else ' class="tick-wide"'
        out.append(f'<text{css} x="{where(i):.2f}%" y="{y}" text-anchor="{anchor}" fill="#444">{escape(label)}</text>')
    return out


def line_chart(series: Sequence[Series], title: str, unit: str = "") -> str:
    """Lines over shared x labels (the first series' labels name the axis); one <circle> per value."""
    values = [v for s in series for _, v in s.points if v is not None]
    labels = list(dict.fromkeys(x for s in series for x, _ in s.points))
    if not values or not labels:
        return _empty(title)
    lo, hi = min(0.0, min(values)), max(values)
    hi = hi if hi > lo else lo + 1.0
    shift = _title_shift(title)
    top, height = TOP + shift, HEIGHT + shift
    plot_h = height - top - BOTTOM
    step = (RIGHT_PCT - LEFT_PCT) / max(len(labels) - 1, 1)
    index = {x: i for i, x in enumerate(labels)}

    def where(i: int) -> float:
        return LEFT_PCT + i * step if len(labels) > 1 else (LEFT_PCT + RIGHT_PCT) / 2

    def y(v: float) -> float:
        return top + plot_h - (v - lo) / (hi - lo) * plot_h

    out = _open(title, height)
    grid, values_text = _y_axis(lo, hi, y, top, height)
    out += grid
    out += _x_labels(labels, where, height - BOTTOM + 16)
    suffix = f" {unit}" if unit else ""
    polylines, circles = [], []
    for n, s in enumerate(series):
        colour = COLOURS[n % len(COLOURS)]
        pts = [(where(index[x]), y(v), x, v) for x, v in s.points if v is not None]
        if len(pts) > 1:
            path = " ".join(f"{px * 10:.1f},{py:.1f}" for px, py, _, _ in pts)  # x in a 0-1000 box
            polylines.append(
                f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="2" '
                'vector-effect="non-scaling-stroke"/>'
            )
        for px, py, x, v in pts:
            circles.append(
                f'<circle class="point" cx="{px:.2f}%" cy="{py:.1f}" r="3" fill="{colour}">'
                f"<title>{escape(s.name)} {escape(x)}: {escape(_fmt(v))}{escape(suffix)}</title></circle>"
            )
    if polylines:  # stretched with the width; the circles, outside the stretched box, stay round
        out.append(
            f'<svg width="100%" height="{height}" viewBox="0 0 1000 {height}" preserveAspectRatio="none">'
            + "".join(polylines)
            + "</svg>"
        )
    out += circles
    out += values_text
    if len(series) > 1:
        lx = 0
        for n, s in enumerate(series):
            out.append(
                f'<rect x="{lx}" y="{height - 14}" width="10" height="10" fill="{COLOURS[n % len(COLOURS)]}"/>'
                f'<text x="{lx + 14}" y="{height - 5}">{escape(s.name)}</text>'
            )
            lx += 34 + int(len(s.name) * FONT * 0.6)
    out.append("</svg>")
    return "".join(out)


def bar_chart(bars: Sequence[tuple[str, float]], title: str, unit: str = "") -> str:
    """Vertical bars, one per (label, value), from zero; each bar has a <title> with its value."""
    if not bars:
        return _empty(title)
    lo = min(0.0, *(v for _, v in bars))
    hi = max(0.0, *(v for _, v in bars))
    hi = hi if hi > lo else lo + 1.0
    shift = _title_shift(title)
    top, height = TOP + shift, HEIGHT + shift
    plot_h = height - top - BOTTOM
    slot = (RIGHT_PCT - LEFT_PCT) / len(bars)
    bar_w = min(slot * 0.7, 6.0)  # a lone bar stays a bar, not a block across the chart

    def y(v: float) -> float:
        return top + plot_h - (v - lo) / (hi - lo) * plot_h

    def middle(i: int) -> float:
        return LEFT_PCT + (i + 0.5) * slot

    out = _open(title, height)
    grid, values_text = _y_axis(lo, hi, y, top, height)
    out += grid
    suffix = f" {unit}" if unit else ""
    for i, (label, value) in enumerate(bars):
        upper, lower = sorted((y(value), y(0.0)))
        out.append(
            f'<rect class="bar" x="{middle(i) - bar_w / 2:.2f}%" y="{upper:.1f}" width="{bar_w:.2f}%" '
            f'height="{max(lower - upper, 0.5):.1f}"'
            f' fill="{COLOURS[0]}"><title>{escape(label)}: {escape(_fmt(value))}{escape(suffix)}</title></rect>'
        )
    out += _x_labels([label for label, _ in bars], middle, height - BOTTOM + 16)
    out += values_text
    out.append("</svg>")
    return "".join(out)
