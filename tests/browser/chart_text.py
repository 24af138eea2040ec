"""Where a page's charts draw their text: read in the browser, judged in Python (tests/browser/test_*.py).

CHART_TEXT gives each chart in <main> its box and its visible text, with the size each text is drawn at on screen
(the font size times the scale from the SVG's own units to pixels) and its box; text hidden on a narrow screen has an
empty box and is left out.
"""

from __future__ import annotations

from typing import Any

CHART_TEXT = """() => [...document.querySelectorAll('main svg.chart')].map((svg) => {
    const box = svg.getBoundingClientRect();
    const texts = [...svg.querySelectorAll('text')].map((t) => {
        const r = t.getBoundingClientRect();
        const scale = t.getScreenCTM() ? t.getScreenCTM().a : 1;
        return {text: t.textContent, px: parseFloat(getComputedStyle(t).fontSize) * scale,
                left: r.left, right: r.right, top: r.top, bottom: r.bottom, width: r.width};
    }).filter((t) => t.width > 0);
    return {label: svg.getAttribute('aria-label'), left: box.left, right: box.right, width: box.width, texts};
})"""


def overlapping(texts: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """The pairs of text boxes that overlap by more than a pixel each way."""
    out = []
    for i, a in enumerate(texts):
        for b in texts[i + 1 :]:
            wide = min(a["right"], b["right"]) - max(a["left"], b["left"])
            tall = min(a["bottom"], b["bottom"]) - max(a["top"], b["top"])
            if wide > 1 and tall > 1:
                out.append((a["text"], b["text"]))
    return out


def cut_off(chart: dict[str, Any]) -> list[str]:
    """The chart's texts that reach past its left or right edge (where the <svg> clips them)."""
    return [t["text"] for t in chart["texts"] if t["left"] < chart["left"] - 1 or t["right"] > chart["right"] + 1]
