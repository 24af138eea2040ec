"""The package import graph follows DESIGN.md's one-way order, apart from the violations listed here.

KNOWN lists today's violations by name: a new one fails the test, and so does one that was fixed (drop it from the
list then, so it cannot come back unnoticed). Run `python scripts/import_graph.py` to see the graph and sizes.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]

KNOWN: set[str] = set()


def graph_report() -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "import_graph.py"), "--json"],
        capture_output=True,
        text=True,
        check=True,
    )
    report: dict[str, Any] = json.loads(out.stdout)
    return report


def test_import_graph_has_only_the_known_violations() -> None:
    report = graph_report()
    found = set(report["violations"])
    assert found - KNOWN == set(), f"new imports against DESIGN.md's order: {report['violated_in']}"
    assert KNOWN - found == set(), "fixed: remove these from KNOWN in tests/test_import_graph.py"


def test_import_graph_sees_the_stages_and_module_sizes() -> None:
    report = graph_report()
    assert "eval" in report["graph"] and "ledger" in report["graph"]["eval"]
    assert "cli" not in {dep for deps in report["graph"].values() for dep in deps}  # nothing imports the CLI
    assert report["modules"] > 100 and 50 < report["median_lines"] < 400
    assert all(n > 600 for n in report["over_600"].values())


def test_import_graph_prints_for_people() -> None:
    out = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "import_graph.py")], capture_output=True, text=True, check=True
    ).stdout
    assert "violations of the order" in out and "median" in out
