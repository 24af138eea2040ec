"""Crowded charts alone in a headless chromium under the dashboard's stylesheet (issue 16: legible at 375 px).

The pages' own test data is too small to crowd an axis (tests/browser/test_dashboard.py checks the charts there);
these charts carry as many labels as a busy gateway's pages draw, and must stay legible at every width.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from chart_text import CHART_TEXT, cut_off, overlapping

from weightwarden.report.charts import grouped_bars, interval_bars
from weightwarden.ui import svg

pytestmark = [pytest.mark.browser]

CSS = Path(__file__).parents[2] / "src" / "weightwarden" / "ui" / "static" / "ui.css"


def crowded_charts() -> list[str]:
    """Charts with as many labels as the pages draw: a day of hours, a month of days, eight runs, long titles."""
    hours = [f"{h:02d}h" for h in range(24)]
    days = [f"11-{d:02d}" for d in range(5, 31)] + [f"12-{d:02d}" for d in range(1, 5)]
    runs = [f"12-0{d} 16:2{d} ab{d}{d}" for d in range(1, 9)]
    return [
        svg.bar_chart([(h, float(i * 37 % 41)) for i, h in enumerate(hours)], "Requests per hour"),
        svg.line_chart(
            [
                svg.Series("p50", [(h, 20.0 + i) for i, h in enumerate(hours)]),
                svg.Series("p95", [(h, 9e2) for h in hours]),
            ],
            "Latency per hour",
            "ms",
        ),
        svg.bar_chart([(d, float(i * 1237 % 4001)) for i, d in enumerate(days)], "Requests per day"),
        svg.line_chart([svg.Series("5xx %", [(d, i % 3 / 10) for i, d in enumerate(days)])], "Server errors per day"),
        svg.line_chart(
            [svg.Series("SmolLM2-135M-Instruct (Q4_1)", [(r, 0.25 + i / 20) for i, r in enumerate(runs)])],
            "quality.some_long_task_name.acc_norm across eval runs of the SmolLM2-135M-Instruct (Q4_1) family",
        ),
        interval_bars(
            [
                {"label": f"task_{i} · acc_norm", "value": i / 10, "low": i / 10 - 0.3, "high": i / 10, "n": 1200}
                for i in range(5)
            ],
            "quality.a_rather_long_task_name (95% intervals)",
        ),
        grouped_bars(
            [
                {"label": "llama.cpp", "values": {"1 client": 62.0, "8 clients": 1234.5}},
                {"label": "transformers", "values": {"1 client": 14.6, "8 clients": None}},
            ],
            "Cost per 1M generated tokens (USD; see each row's source)",
            "USD",
        ),
    ]


@pytest.mark.parametrize("width", [375, 600, 768, 1440])
def test_crowded_charts_keep_their_text_apart_at_any_width(browser: Any, width: int) -> None:
    """The charts alone, under the dashboard's stylesheet: the pages' own data is too small to crowd an axis."""
    css = CSS.read_text(encoding="utf-8")
    body = "".join(f'<figure class="chart">{c}</figure>' for c in crowded_charts())
    context = browser.new_context(viewport={"width": width, "height": 900})
    try:
        page = context.new_page()
        head = "<!doctype html><meta name='viewport' content='width=device-width'>"
        page.set_content(f"{head}<style>{css}</style><main>{body}</main>")
        assert page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth")
        charts = page.evaluate(CHART_TEXT)
        assert len(charts) == len(crowded_charts())
        for chart in charts:
            where = f"{chart['label']!r} at {width} px"
            assert chart["right"] <= width and len(chart["texts"]) >= 3, where
            assert [t["text"] for t in chart["texts"] if t["px"] < 11] == [], f"{where}: text under 11 px"
            assert cut_off(chart) == [], f"{where} cuts text off at its edges"
            assert overlapping(chart["texts"]) == [], f"{where} draws text over text"
    finally:
        context.close()
